"""Folding Vietnamese text for search."""

from hypothesis import given
from hypothesis import strategies as st

from lienthong.text import fold, search_terms


def test_ha_noi_folds_to_one_key_whatever_the_marks_and_case():
    assert fold("Hà Nội") == fold("ha noi") == fold("HA NOI") == fold("  Hà   NỘI ") == "ha noi"


def test_d_with_stroke_folds_to_d():
    assert fold("Đắk Lắk") == "dak lak"
    assert fold("đặc khu Côn Đảo") == "dac khu con dao"


def test_decomposed_input_folds_like_precomposed():
    decomposed = "Hà Nội".encode().decode()  # precomposed in source
    import unicodedata

    assert fold(unicodedata.normalize("NFD", decomposed)) == fold(decomposed)


def test_search_terms_are_bounded():
    assert search_terms("a b c d e f g h i j k", limit=3) == ["a", "b", "c"]


@given(st.text(max_size=200))
def test_fold_is_idempotent_and_ascii_for_vietnamese_letters(text):
    once = fold(text)
    assert fold(once) == once
    assert once == once.strip()
    assert "  " not in once
