"""Request hygiene that every page and API route needs."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseBadRequest, JsonResponse

from lienthong.errors import ApiError


class RefuseNulMiddleware:
    """A NUL character in an address is refused before any view runs: PostgreSQL
    cannot store or compare text holding one, so a look-up by such a value would
    fail as a server error, and no legitimate address needs it.

    In the API a path holding NUL names nothing (404, like any unknown address);
    its query parameters are judged by each operation's own validation. A page
    answers 400 for either."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        in_path = "\x00" in request.path_info
        if request.path_info.startswith("/api/"):
            if in_path:
                error = ApiError(
                    404,
                    "not_found",
                    "Không có địa chỉ này trong API.",
                    "There is no such address in the API.",
                )
                return JsonResponse(error.body(), status=404)
        elif in_path or "%00" in request.META.get("QUERY_STRING", ""):
            return HttpResponseBadRequest("NUL")
        return self.get_response(request)
