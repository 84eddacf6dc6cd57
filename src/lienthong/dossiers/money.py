"""Amounts of đồng as the platform writes them: in notices, event notes and pages."""


def format_vnd(amount: int) -> str:
    """150000 -> "150.000" (the Vietnamese thousands separator, whatever the language)."""
    return f"{int(amount):,}".replace(",", ".")
