from django.http import HttpRequest

from lienthong.node import this_node


def node(request: HttpRequest) -> dict:
    """Every page shows which node the reader is on."""
    return {"this_node": this_node()}
