"""The symbol table of the original VITS release (jaywalnut310/vits, text/symbols.py)."""

from __future__ import annotations

_PAD = "_"
_PUNCTUATION = ';:,.!?¡¿—…"«»“” '
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# The tail "'\u0329'" is an apostrophe, a lone COMBINING VERTICAL LINE BELOW and a second
# apostrophe: upstream lists "'" twice, so the table has 178 entries but 177 distinct symbols.
_LETTERS_IPA = (
    "ɑɐɒæɓʙβɔɕçɗɖðʤəɘɚɛɜɝɞɟʄɡɠɢʛɦɧħɥʜɨɪʝɭɬɫɮʟɱɯɰŋɳɲɴøɵɸθœɶʘɹɺɾɻʀʁɽʂʃʈʧʉʊʋⱱʌɣɤʍχʎʏʑʐʒʔʡʕʢǀǁǂǃ"
    "ˈˌːˑʼʴʰʱʲʷˠˤ˞↓↑→↗↘"
    "'\u0329'"
    "ᵻ"
)

ORIGINAL_VITS_SYMBOLS: tuple[str, ...] = (_PAD, *_PUNCTUATION, *_LETTERS, *_LETTERS_IPA)
"""The 178 symbols of the original VITS release; index = token id."""

ORIGINAL_VITS_NAME = "original VITS (jaywalnut310/vits text/symbols.py)"
