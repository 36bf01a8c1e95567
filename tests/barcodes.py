"""Code 128 read back from the server's SVG as a scanner reads it: bar widths in modules, 11
modules a symbol, the start, check and stop symbols checked, code sets B and C. Written from the
standard's table (ISO/IEC 15417), apart from the encoder under test (python-barcode)."""

from __future__ import annotations

import re

# Each symbol is 3 bars and 3 spaces, 11 modules in all; the standard lists them as widths.
# Values 0-105 (the stop symbol is checked on its own).
WIDTHS = (
    "212222 222122 222221 121223 121322 131222 122213 122312 132212 221213 "
    "221312 231212 112232 122132 122231 113222 123122 123221 223211 221132 "
    "221231 213212 223112 312131 311222 321122 321221 312212 322112 322211 "
    "212123 212321 232121 111323 131123 131321 112313 132113 132311 211313 "
    "231113 231311 112133 112331 132131 113123 113321 133121 313121 211331 "
    "231131 213113 213311 213131 311123 311321 331121 312113 312311 332111 "
    "314111 221411 431111 111224 111422 121124 121421 141122 141221 112214 "
    "112412 122114 122411 142112 142211 241211 221114 413111 241112 134111 "
    "111242 121142 121241 114212 124112 124211 411212 421112 421211 212141 "
    "214121 412121 111143 111341 131141 114113 114311 411113 411311 113141 "
    "114131 311141 411131 211412 211214 211232"
).split()
SYMBOLS = {
    "".join(("1" if i % 2 == 0 else "0") * int(n) for i, n in enumerate(w)): value
    for value, w in enumerate(WIDTHS)
}
STOP = "1100011101011"  # the stop symbol and its closing bar
START_B, START_C, TO_C, TO_B = 104, 105, 99, 100
_BAR = re.compile(r'<rect x="([\d.]+)mm" y="[\d.]+mm" width="([\d.]+)mm" height="[\d.]+mm" '
                  r'fill="black"')


def modules(svg: str) -> str:
    """The bars of a drawn code as modules, 1 a bar, 0 a space (the quiet zones left out)."""
    bars = [(float(x), float(w)) for x, w in _BAR.findall(svg)]
    assert bars, "no bars"
    module = bars[0][1] / 2  # every start symbol opens with a bar two modules wide
    start = bars[0][0]
    width = round((bars[-1][0] + bars[-1][1] - start) / module)
    out = ["0"] * width
    for x, w in bars:
        first = round((x - start) / module)
        for i in range(first, first + round(w / module)):
            out[i] = "1"
    return "".join(out)


def decode(bits: str) -> str:
    assert bits.endswith(STOP), "stop pattern"
    body = bits[:-len(STOP)]
    assert len(body) % 11 == 0
    values = [SYMBOLS[body[i:i + 11]] for i in range(0, len(body), 11)]
    start, *data, check = values
    assert start in (START_B, START_C), "start B or C"
    assert check == (start + sum(i * v for i, v in enumerate(data, 1))) % 103, "check symbol"
    text, charset = "", "B" if start == START_B else "C"
    for value in data:
        if (charset, value) in (("B", TO_C), ("C", TO_B)):
            charset = "C" if value == TO_C else "B"
        elif charset == "C":
            text += f"{value:02d}"
        else:
            text += chr(value + 32)
    return text


def read(svg: str) -> str:
    """The text a scanner reads from the code drawn in `svg`."""
    return decode(modules(svg))
