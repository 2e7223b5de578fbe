"""Values a charger reports for its configuration (1.6 GetConfiguration, 2.0.1 GetVariables).

They are text the charger chose: read totally, anything unreadable is None.
"""

from __future__ import annotations

# No charger has a stack level with more digits; int() refuses thousands of them.
_MAX_STACK_LEVEL_DIGITS = 9


def stack_level(value: object) -> int | None:
    """A charger's highest stack level (1.6 ChargeProfileMaxStackLevel, 2.0.1
    SmartChargingCtrlr.ProfileStackLevel), or None when the text is not one."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    # ASCII digits only: str.isdigit accepts "²", which int() refuses.
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_STACK_LEVEL_DIGITS:
        return None
    return int(text)
