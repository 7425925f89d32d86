from knowledge.russian import lemmas, query_lemmas, tokenize


def test_spoken_and_typed_text_give_the_same_lemmas() -> None:
    typed = "Это ДОРОГО! Цены у вас, честно говоря, кусаются..."
    spoken = "это дорого цены у вас честно говоря кусаются"
    assert lemmas(typed) == lemmas(spoken)
    assert "цена" in lemmas(spoken) and "кусаться" in lemmas(spoken)


def test_yo_is_folded_and_punctuation_ignored() -> None:
    assert tokenize("Всё взвесим, ещё раз!") == ["все", "взвесим", "еще", "раз"]


def test_stop_words_and_fillers_are_dropped_but_meaningful_words_kept() -> None:
    words = lemmas("ну вот алло слушаю сколько это стоит сейчас")
    assert "ну" not in words and "алло" not in words
    assert "сколько" in words and "стоить" in words and "сейчас" in words


def test_negation_is_kept_as_a_feature() -> None:
    assert "не_нужный" in lemmas("нам это не нужно")
    assert "не_нужный" in lemmas("вентиляция нам не нужна")  # predicative and short adjective agree
    assert "не_решать" in lemmas("это не я решаю")
    assert not any(w.startswith("не_") for w in lemmas("нам это нужно"))


def test_query_framing_words_are_removed_only_when_a_subject_remains() -> None:
    assert query_lemmas("Клиент говорит, что дорого — что отвечать?") == ["дорогой"]
    assert query_lemmas("клиент говорит") == ["клиент", "говорить"]


def test_unknown_words_still_get_a_lemma() -> None:
    # Recognizer output can contain words no dictionary knows; they must not crash or vanish.
    assert lemmas("маркетплейсами вайлдберриз") == [lemmas("маркетплейсами")[0], lemmas("вайлдберриз")[0]]
    assert all(lemmas(w) for w in ["маркетплейсами", "вайлдберриз"])


def test_adverbs_share_the_adjective_lemma() -> None:
    assert lemmas("это дорого") == lemmas("дорогое") == ["дорогой"]
    assert lemmas("слишком долго")[-1] == "долгий"
    assert lemmas("надо") == ["надо"]  # no adjective behind it: unchanged
