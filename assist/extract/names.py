"""Who the client is: contact name, company and city, each with the utterance it came from.

Names come from pymorphy3's name tags (``Name``, ``Surn``, ``Patr``), read in the places people say
them: the client introducing himself ("меня зовут", "это татьяна морозова", "орлова слушаю"), the
answer to "как к вам обращаться", the manager addressing the client ("андрей викторович"). The
manager's own name and company (from "меня зовут ...", "компания ... здравствуйте") never become the
client's. Companies follow an organisation word ("компания", "сеть", "ооо", "магазин", "называются")
or are words the dictionary does not know ("волгометалле" -> "Волгометалл") said as the client's
place ("у нас в ...", "из ..."), after the client's job in his introduction ("главный агроном колос"),
or after "звоню в компанию" in the manager's words. Cities are matched against a list of Russian
cities in every case form (and towns off the list by a place-name ending: "моршанск"), and weighed by
who says them and how: "мы из екатеринбурга", "я с челябинска", "под воронежем", "точки по
краснодару" or "к вам в самару" count, "выйти на казань" (a plan) does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from assist.extract.evidence import Found
from assist.extract.numbers import number_word
from assist.extract.text import has_tag, is_known, parses, tokens
from assist.transcript import Utterance

# Russian cities of about 100 000 people and more, in the nominative.
CITIES = """москва санкт-петербург новосибирск екатеринбург казань нижний-новгород челябинск красноярск самара уфа
ростов-на-дону омск краснодар воронеж пермь волгоград саратов тюмень тольятти барнаул махачкала ижевск хабаровск
ульяновск иркутск владивосток ярославль севастополь томск ставрополь кемерово набережные-челны оренбург
новокузнецк балашиха рязань чебоксары пенза липецк калининград астрахань тула киров сочи курск улан-удэ тверь
магнитогорск брянск иваново белгород сургут владимир чита архангельск нижний-тагил симферополь калуга смоленск
волжский якутск саранск череповец курган вологда орел подольск владикавказ грозный мурманск тамбов стерлитамак
петрозаводск кострома нижневартовск новороссийск йошкар-ола химки таганрог сыктывкар нальчик шахты дзержинск
братск орск нижнекамск ангарск энгельс благовещенск великий-новгород королев старый-оскол мытищи псков люберцы
бийск южно-сахалинск армавир балаково прокопьевск абакан рыбинск северодвинск норильск уссурийск волгодонск
петропавловск-камчатский сызрань новочеркасск каменск-уральский златоуст электросталь альметьевск салават
миасс керчь копейск находка пятигорск хасавюрт рубцовск березники коломна майкоп ковров одинцово красногорск
кисловодск нефтекамск нефтеюганск новочебоксарск серпухов щелкове домодедово новомосковск черкесск
первоуральск дербент орехово-зуево невинномысск димитровград камышин муром ессентуки новый-уренгой ноябрьск
октябрьский обнинск ханты-мансийск сергиев-посад евпатория минск алматы астана ташкент бишкек""".split()
_CITY_ALIASES = {"питер": "санкт-петербург", "петербург": "санкт-петербург", "екб": "екатеринбург"}
_AMBIGUOUS_CITIES = frozenset({"орел", "королев", "владимир", "киров", "миасс", "шахты", "салават", "октябрьский",
                               "курган", "ковров", "находка", "муром", "чита", "армавир"})
ORG_WORDS = frozenset("""компания компании компанию компанией фирма фирмы фирму ооо оао зао пао ао ип сеть сети сетью
магазин магазина магазины магазинов фабрика фабрики фабрику завод завода заводе клиника клиники клинику салон
салона агентство агентства холдинг холдинга студия студии ресторан ресторана кафе предприятие предприятия
называется называются название""".split())
# Kinds of organisation (lemmas): the name follows them in apposition ("бизнес центр орион", "клуб атлетика").
ORG_LEMMAS = frozenset("""компания фирма сеть магазин фабрика завод клиника салон агентство холдинг студия ресторан кафе
предприятие центр клуб бюро школа академия лаборатория аптека типография ателье комбинат отель гостиница
мастерская питомник пекарня кофейня автосервис автосалон хозяйство агрофирма агрохолдинг кооператив колхоз
совхоз стоматология поликлиника бутик пиццерия столовая хостел застройщик издательство университет колледж лицей
гимназия больница санаторий турбаза супермаркет минимаркет гипермаркет ветклиника зоомагазин автомойка шиномонтаж
кондитерская автошкола металлобаза""".split())
# Jobs a client names himself by; his organisation may follow in apposition ("главный агроном колос").
_JOB_LEMMAS = frozenset("""директор агроном инженер технолог бухгалтер менеджер закупщик снабженец администратор
управляющий руководитель владелец хозяин заведующий начальник юрист врач главврач""".split())
# The endings of Russian town names: a place-name the dictionary knows ("Geox") with one of them is a town
# even when it is not on the list ("моршанск", "кировоград"); regions and countries ("урал", "кубань") are not.
_TOWN_ENDINGS = ("ск", "цк", "град", "бург", "поль")
LEGAL_FORMS = frozenset("ооо оао зао пао ао ип нко ано".split())
_GREETINGS = frozenset("алло здравствуйте добрый доброе день вечер утро привет спасибо до свидания".split())
_NAME_QUESTIONS = ("как к вам обращаться", "как к вам можно обращаться", "как вас зовут", "как вас величать",
                   "представьтесь", "с кем я говорю", "с кем говорю", "ваше имя", "как обращаться", "фамили")
_PLAN_VERBS = frozenset("выйти выходить запуститься запускаться открыть открыться открывать расшириться зайти".split())
_BAD_NAME_TOKENS = frozenset("из у в на с за по для".split())
_COMPANY_STOP = frozenset("""я мы вы он она они это вот и а но или из у в на с по для от до как что кто так
тоже уже еще очень да нет ну""".split())


@lru_cache(maxsize=4096)
def _city_of(word: str) -> str | None:
    if word in _CITY_ALIASES:
        return _CITY_ALIASES[word]
    for p in parses(word):
        if p.lemma in _CITY_SET and ("Geox" in p.tag or p.lemma in _HYPHEN_PARTS):
            return p.lemma
    for p in parses(word):
        if "Geox" in p.tag and p.score >= 0.3 and len(p.lemma) > 4 and p.lemma.endswith(_TOWN_ENDINGS):
            return p.lemma
    return None


_CITY_SET = frozenset(part for c in CITIES for part in [c])
_HYPHEN_PARTS: frozenset[str] = frozenset()


def _city_at(toks: list[str], i: int) -> tuple[str, int] | None:
    """(city in the nominative, tokens used) for a city said at token i, multi-word names included."""
    for city in _MULTI:
        parts = city.split("-")
        if i + len(parts) > len(toks):
            continue
        if all(_matches_part(toks[i + k], parts[k]) for k in range(len(parts))):
            return city, len(parts)
    single = _city_of(toks[i])
    if single is not None:
        return single, 1
    return None


_MULTI = sorted((c for c in CITIES if "-" in c), key=lambda c: -c.count("-"))


@lru_cache(maxsize=4096)
def _matches_part(word: str, part: str) -> bool:
    if word == part:
        return True
    return any(p.lemma == part for p in parses(word)) or (len(part) > 4 and word[:len(part) - 2] == part[:-2])


def display_city(city: str) -> str:
    out = []
    for piece in city.split("-"):
        out.append(piece if piece in ("на",) else piece.capitalize())
    joined = "-".join(out)
    if city in ("нижний-новгород", "великий-новгород", "старый-оскол", "набережные-челны", "новый-уренгой",
                "сергиев-посад"):
        joined = joined.replace("-", " ")
    return joined


# ----------------------------------------------------------------------------------------------------------------------
# the manager's own identity


@dataclass
class ManagerSide:
    names: set[str]
    company_words: set[str]


def manager_side(utterances: list[Utterance]) -> ManagerSide:
    names: set[str] = set()
    company: set[str] = set()
    manager_turns = [u for u in utterances if u.speaker == "manager"]
    for n, u in enumerate(manager_turns[:3]):
        toks = tokens(u.text)
        for i, t in enumerate(toks):
            if t == "зовут" and i + 1 < len(toks) and _is_name(toks[i + 1], strict=False):
                names.add(_name_lemma(toks[i + 1]))
                company.update(_org_after(toks, i + 2, 6))
            if t == "это" and i + 1 < len(toks) and _is_name(toks[i + 1], strict=True) and n == 0:
                names.add(_name_lemma(toks[i + 1]))
                company.update(_org_after(toks, i + 2, 3, allow_bare=True))
            if t in ("слушаю", "слушаем") and i > 0 and _is_name(toks[i - 1], strict=False) and n == 0:
                names.add(_name_lemma(toks[i - 1]))
        if n == 0:
            # an inbound greeting starts with the company: "компания стройресурс здравствуйте", "офиспроф добрый день"
            lead = []
            for t in toks:
                if t in _GREETINGS:
                    break
                lead.append(t)
            if len(lead) <= 5:
                company.update(w for w in lead if w not in ORG_WORDS)
    return ManagerSide(names, company)


def _org_after(toks: list[str], i: int, window: int, allow_bare: bool = False) -> set[str]:
    out: set[str] = set()
    for j in range(i, min(len(toks), i + window)):
        if toks[j] in ORG_WORDS:
            out.update(toks[j + 1:j + 3])
            break
    if allow_bare:
        out.update(t for t in toks[i:i + 2] if t not in _COMPANY_STOP)
    return out


# ----------------------------------------------------------------------------------------------------------------------
# names


def _is_name(word: str, strict: bool) -> bool:
    """A first name; ``strict`` wants the name reading to be a likely one ("роман" the novel is not)."""
    if len(word) < 3:
        return False
    return any("Name" in p.tag and (not strict or p.score >= 0.25) for p in parses(word))


def _is_surname(word: str) -> bool:
    if len(word) < 4:
        return False
    if any("Surn" in p.tag for p in parses(word)):
        return True
    return not is_known(word) and word.endswith(("ов", "ев", "ин", "ова", "ева", "ина", "ский", "ская", "цкий",
                                                  "цкая"))


def _rather_surname(word: str) -> bool:
    """"карпов" reads as a surname more than as the name "карп" in the plural."""
    name = max((p.score for p in parses(word) if "Name" in p.tag), default=0.0)
    surname = max((p.score for p in parses(word) if "Surn" in p.tag), default=0.0)
    return surname > name


def _is_patronymic(word: str) -> bool:
    return any("Patr" in p.tag for p in parses(word))


def _name_lemma(word: str) -> str:
    for p in parses(word):
        if "Name" in p.tag:
            return p.lemma
    return word


def _gender(first: str) -> str:
    for p in parses(first):
        if "Name" in p.tag:
            return "femn" if "femn" in p.tag else "masc"
    return "masc"


def _surname_nominative(word: str, gender: str) -> str:
    from knowledge.russian import analyzer

    for p in analyzer().parse(word):
        if "Surn" not in p.tag:
            continue
        if p.tag.case == "nomn" and (p.tag.gender == gender or (gender == "masc" and p.tag.gender == "masc")):
            return word
        form = p.inflect({"nomn", gender, "sing"}) if gender == "femn" else p.inflect({"nomn", "sing"})
        if form is not None:
            return str(form.word).replace("ё", "е")
    return word


def _first_nominative(word: str) -> str:
    return _name_lemma(word)


def contact_name(utterances: list[Utterance], side: ManagerSide) -> Found | None:
    firsts: list[tuple[float, int, str, Utterance]] = []  # (score, order, name lemma, utterance)
    surnames: list[tuple[float, int, str, Utterance]] = []
    asked = False
    client_seen = 0
    for u in utterances:
        toks = tokens(u.text)
        if u.speaker == "manager":
            joined = " ".join(toks)
            asked = any(q in joined for q in _NAME_QUESTIONS)
            for i, t in enumerate(toks):
                if i > 0 and toks[i - 1] == "зовут":
                    continue
                if not _is_name(t, strict=False) or _name_lemma(t) in side.names:
                    continue
                greeting = i == 0 or toks[i - 1] in _GREETINGS or (i + 1 < len(toks) and toks[i + 1] in _GREETINGS)
                patronymic = i + 1 < len(toks) and _is_patronymic(toks[i + 1])
                after = toks[i + 2:i + 3] if patronymic else toks[i + 1:i + 2]
                if after in (["из"], ["у"]) or (i and toks[i - 1] == "это"):
                    continue  # "николай петрович из агрофирмы рассвет": someone else, not the client
                if not (greeting or patronymic or _is_name(t, strict=True)):
                    continue
                score = 0.7 if patronymic else 0.6 if greeting else 0.45
                firsts.append((score, u.index, _first_nominative(t), u))
            continue
        client_seen += 1
        for i, t in enumerate(toks):
            prev = toks[i - 1] if i else ""
            nxt = toks[i + 1] if i + 1 < len(toks) else ""
            intro = prev in ("зовут", "это", "я") or (i >= 2 and toks[i - 2] in ("зовут", "это", "я")) or \
                (nxt == "зовут" and prev == "меня")  # "меня андрей зовут"
            said_surname = prev in ("фамилия", "фамилию") or (i >= 2 and toks[i - 2] in ("фамилия", "фамилию"))
            if prev in _BAD_NAME_TOKENS or (nxt in ("из", "у") and not intro):
                continue  # "сергей из волга банка": someone else
            full = (_is_name(t, strict=False) and (_is_surname(prev) or _is_surname(nxt) or _is_patronymic(nxt))) or (
                _is_surname(t) and (_is_name(prev, strict=True) or _is_name(nxt, strict=True) or _is_patronymic(prev)))
            strong = asked or intro or full or nxt in ("слушаю", "слушает") or (client_seen <= 2 and i <= 4)
            if not strong and not said_surname:
                continue
            base = 0.95 if asked or prev == "зовут" or nxt == "зовут" or said_surname else 0.9 if intro else 0.8
            if _is_name(t, strict=not (asked or intro)) and _name_lemma(t) not in side.names \
                    and not _rather_surname(t):
                firsts.append((base, u.index, _first_nominative(t), u))
            elif _is_surname(t) and number_word(t) is None and (asked or intro or full or said_surname or
                                                                nxt in ("слушаю", "слушает")):
                # a surname needs a place people say surnames in; "сорок два блока" early in the call is none
                surnames.append((base, u.index, t, u))
    if not firsts and not surnames:
        return None
    first = max(firsts, key=lambda f: (f[0], -f[1])) if firsts else None
    gender = _gender(first[2]) if first else "masc"
    surname = None
    if surnames:
        fitting = [s for s in surnames if _surname_gender_fits(s[2], gender)]
        if fitting:
            surname = max(fitting, key=lambda s: (s[0], -s[1]))
    parts = []
    if first:
        parts.append(first[2].capitalize())
    if surname:
        parts.append(_surname_nominative(surname[2], gender).capitalize())
    if not first:
        if surname is None:
            return None
        # only a surname was said ("это петров"): the card names the person by it, less surely
        alone = _surname_nominative(surname[2], "femn" if _surname_gender_fits(surname[2], "femn")
                                    and not _surname_gender_fits(surname[2], "masc") else "masc")
        return Found(alone.capitalize(), surname[3].index, surname[3].text, round(surname[0] * 0.6, 2))
    evidence = surname[3] if surname and surname[0] > first[0] else first[3]
    confidence = min(first[0], surname[0]) if surname else first[0] * 0.9
    return Found(" ".join(parts), evidence.index, evidence.text, round(confidence, 2))


def _surname_gender_fits(word: str, gender: str) -> bool:
    found = [p for p in parses(word) if "Surn" in p.tag]
    if not found:
        return word.endswith(("а", "ая")) == (gender == "femn")
    return any(gender in p.tag or "ms-f" in p.tag for p in found)  # "коваленко" is either


# ----------------------------------------------------------------------------------------------------------------------
# company


def _company_word_ok(word: str, after_org: bool = False) -> bool:
    """A word that can be (part of) a company name. ``after_org``: said right after an organisation
    word, where a brand in apposition may be a first name too ("бизнес центр орион")."""
    if word in _COMPANY_STOP or word in ORG_WORDS or number_word(word) is not None or word.isdigit():
        return False
    if _city_of(word) is not None or word in _CITY_ALIASES:
        return False
    if not is_known(word):
        return True
    return any(({"NOUN", "ADJF"} & p.tag) and "nomn" in p.tag and (after_org or "Name" not in p.tag)
               and "Surn" not in p.tag and "Apro" not in p.tag and "Anum" not in p.tag for p in parses(word))


def _job_word(word: str) -> bool:
    return any(p.lemma in _JOB_LEMMAS and "NOUN" in p.tag and "nomn" in p.tag for p in parses(word))


def _is_org_word(word: str) -> bool:
    return word in ORG_WORDS or any(p.lemma in ORG_LEMMAS and "NOUN" in p.tag and p.score >= 0.3
                                    for p in parses(word))


def _descriptor_end(toks: list[str], i: int) -> int:
    """Past the words that say what kind of business an organisation word is about ("сеть фитнес
    клубов атлетика", "студия маникюра ноготок", "сеть минимаркетов колосок"): up to three words
    ending with a noun in the genitive, when a name follows them. ``i`` when there is none."""
    for j in range(i, min(len(toks), i + 3)):
        found = parses(toks[j])
        if not found or toks[j] in _COMPANY_STOP:
            return i
        best = found[0]
        if "NOUN" in best.tag and "gent" in best.tag and not ({"Name", "Surn"} & best.tag):
            # a chain of genitives ("сеть магазинов косметики лиса"): the name follows the last one
            while j + 2 < len(toks) and _genitive_noun(toks[j + 1]) and _company_word_ok(toks[j + 2], True) \
                    and _city_at(toks, j + 2) is None:
                j += 1
            if j + 1 < len(toks) and _company_word_ok(toks[j + 1], after_org=True) and \
                    _city_at(toks, j + 1) is None:
                return j + 1
            return i
        if not ({"NOUN", "ADJF"} & best.tag):
            return i
    return i


def _genitive_noun(word: str) -> bool:
    found = parses(word)
    return bool(found) and word not in _COMPANY_STOP and "NOUN" in found[0].tag and "gent" in found[0].tag \
        and not ({"Name", "Surn"} & found[0].tag)


def _legal_name(toks: list[str], i: int) -> list[str]:
    """The name after a legal form ("ооо альфа принт"): up to three words that can be part of a name."""
    out: list[str] = []
    j = i
    while j < len(toks) and len(out) < 3:
        t = toks[j]
        if not _company_word_ok(t, after_org=True) and not (is_known(t) and has_tag(t, "NOUN") and
                                                            t not in _COMPANY_STOP and number_word(t) is None):
            break
        if _city_at(toks, j) is not None or (out and has_tag(t, "VERB")):
            break
        out.append(t)
        j += 1
    return out


def _company_tokens(toks: list[str], i: int) -> list[str]:
    out: list[str] = []
    j = i
    while j < len(toks) and len(out) < 3:
        t = toks[j]
        if not _company_word_ok(t) or _city_at(toks, j) is not None:
            break
        if out and is_known(t) and not is_known(out[-1]) and t not in ("плюс", "групп", "групп", "строй", "про"):
            break
        if out and is_known(out[-1]) and is_known(t) and not (has_tag(out[-1], "ADJF") and has_tag(t, "NOUN")) \
                and t not in ("плюс", "групп", "строй", "про"):
            break
        out.append(t)
        j += 1
        if is_known(t) and not has_tag(t, "ADJF"):
            if j < len(toks) and toks[j] in ("плюс", "групп", "про"):
                continue
            break
    return out


def _company_name(words: list[str], as_said: bool = False) -> str:
    """The name in the nominative: an unknown word said after a preposition is declined ("из
    волгометалла" -> "Волгометалл"); ``as_said`` keeps it (a brand in apposition does not decline)."""
    if len(words) == 1 and not is_known(words[0]) and not as_said:
        best = parses(words[0])
        word = best[0].lemma if best and "nomn" not in best[0].tag else words[0]
        return word.capitalize()
    return " ".join(words).capitalize()


def company(utterances: list[Utterance], side: ManagerSide) -> Found | None:
    found: list[tuple[float, int, str, Utterance]] = []
    own = {w for w in side.company_words}
    own_lemmas = {parses(w)[0].lemma if parses(w) else w for w in own}
    client_turn = 0
    for n, u in enumerate(utterances):
        toks = tokens(u.text)
        client = u.speaker == "client"
        client_turn += client
        intro_cut = len(toks)
        if not client:
            for i, t in enumerate(toks):
                if t == "зовут":
                    intro_cut = i
                    break
        for i, t in enumerate(toks):
            candidates: list[tuple[float, list[str], bool]] = []
            if t in LEGAL_FORMS or _is_org_word(t):
                start = _descriptor_end(toks, i + 1) if t not in LEGAL_FORMS else i + 1
                words = _legal_name(toks, start) if t in LEGAL_FORMS else _company_tokens(toks, start)
                if not words:  # a brand that is also a first name: "бизнес центр орион"
                    words = [w for w in toks[start:start + 1] if _company_word_ok(w, after_org=True)]
                if words:
                    if client:
                        candidates.append((0.9, words, True))
                    elif i < intro_cut and not (n == 0 and i <= 1 and u.speaker == "manager"):
                        candidates.append((0.7, words, True))
            if not client and i >= 2 and _is_org_word(t) and toks[i - 1] in ("в", "во") and \
                    any(w.startswith("звон") for w in toks[max(0, i - 4):i - 1]):
                # the manager names whom he calls: "я звоню в компанию техноком" (outbound)
                words = _company_tokens(toks, _descriptor_end(toks, i + 1))
                if words:
                    candidates.append((0.95, words, True))
            if client and client_turn <= 2 and i >= 1 and _job_word(toks[i - 1]) and not _is_org_word(t) and (
                    not is_known(t) or (has_tag(t, "NOUN", "nomn") and not has_tag(t, "Name", "nomn", min_score=0.25))):
                # the organisation after the client's job in his introduction: "главный агроном колос"
                words = _company_tokens(toks, i)
                if words:
                    candidates.append((0.75, words, True))
            prev2 = " ".join(toks[max(0, i - 2):i])
            if client and i and (prev2.endswith("у нас в") or prev2 == "нас в" or toks[i - 1] in ("из", "это")):
                words = _company_tokens(toks, i)
                if words and not is_known(words[0]):
                    candidates.append((0.8, words, False))
            if not client and i and toks[i - 1] in ("для", "ваш", "вашего", "вашей", "вашу", "вашем") \
                    and not is_known(t):
                words = _company_tokens(toks, i)
                if words:
                    candidates.append((0.5, words, False))
            for score, words, as_said in candidates:
                lemmas = {parses(w)[0].lemma if parses(w) else w for w in words}
                if set(words) & own or lemmas & own_lemmas:
                    continue
                found.append((score, u.index, _company_name(words, as_said), u))
    if not found:
        return None
    best = max(found, key=lambda f: (f[0], -f[1]))
    return Found(best[2], best[3].index, best[3].text, best[0])


# ----------------------------------------------------------------------------------------------------------------------
# city


def city(utterances: list[Utterance]) -> Found | None:
    found: list[tuple[float, int, str, Utterance]] = []
    client_turn = 0
    for u in utterances:
        toks = tokens(u.text)
        client = u.speaker == "client"
        if client:
            client_turn += 1
        i = 0
        while i < len(toks):
            hit = _city_at(toks, i)
            if hit is None:
                i += 1
                continue
            name, used = hit
            prev = toks[i - 1] if i else ""
            window = " ".join(toks[max(0, i - 5):i])
            near = set(toks[max(0, i - 3):i])
            if name in _AMBIGUOUS_CITIES and prev not in ("в", "во", "из", "город", "городе", "города"):
                i += used
                continue
            case = _case_of(toks[i + used - 1])
            if near & _PLAN_VERBS or prev == "на":
                score = 0.2  # "выйти на казань": a plan, not where the client is
            elif client:
                if prev == "из" or ("у нас" in window and prev in ("в", "во")) or (prev in ("с", "со")
                                                                                   and case == "gent"):
                    score = 0.9  # "мы из тулы", "я сам с челябинска" (spoken "from")
                elif (prev in ("в", "во") and case == "loct") or (prev == "под" and case == "ablt"):
                    score = 0.85  # "у нас склад в туле", "хозяйство под воронежем"
                elif prev == "по" and has_tag(toks[i + used - 1], "Geox", "datv"):
                    score = 0.7  # "точки по краснодару": where the client works
                elif i <= 1:
                    score = 0.85  # the answer to "куда доставка", "адрес": "краснодар улица северная"
                elif prev in ("в", "во") or not prev or (case == "nomn" and client_turn <= 2):
                    score = 0.6
                else:
                    score = 0.45
            else:
                if "у нас" in " ".join(toks[i:i + 4]) or "у нас" in window:
                    score = 0.1  # the manager's own branch
                elif "к вам" in window or "у вас" in window or "вашем" in window:
                    score = 0.8
                elif " у вас " in f" {' '.join(toks)} " or " ваш" in f" {' '.join(toks)}":
                    score = 0.55
                else:
                    score = 0.35
            if name not in _CITY_SET:
                score -= 0.05  # a town off the list (by its ending) is a little less sure than a listed city
            found.append((score, u.index, display_city(name), u))
            i += used
    if not found:
        return None
    best = max(found, key=lambda f: (f[0], -f[1]))
    if best[0] < 0.5:
        return None
    return Found(best[2], best[3].index, best[3].text, best[0])


def _case_of(word: str) -> str:
    for p in parses(word):
        if "Geox" in p.tag:
            if "loc2" in p.tag:
                return "loct"  # "в ростове на дону"
            for case in ("nomn", "gent", "datv", "accs", "ablt", "loct"):
                if case in p.tag:
                    return case
    return ""


def own_company_named(text: str) -> str | None:
    """The manager's own company as he names it in his opening turn, or None: before the greeting of
    an inbound call ("климат юг добрый день"), after an org word ("меня зовут денис компания вектор"),
    or right after "это <имя>" ("это сергей лидер логистик"). Names of people do not count (an outbound
    call opens with the client's name: "татьяна добрый день")."""
    toks = tokens(text)
    if not toks:
        return None
    side = manager_side([Utterance(0, "manager", 0.0, 0.0, text)])
    if not any(t in _GREETINGS or t in ("зовут", "это") for t in toks):
        side.company_words = set()  # no greeting, no introduction: a short turn is not a company's name
    words = [w for w in toks if w in side.company_words and _company_word_ok(w, after_org=True)
             and not _is_name(w, strict=True) and not _is_patronymic(w) and not _is_surname(w)]
    for i, t in enumerate(toks[:-3]):  # "это ольга из вектора", "меня зовут олег из стройресурса"
        if t in ("зовут", "это") and _is_name(toks[i + 1], strict=False) and toks[i + 2] == "из":
            word = toks[i + 3]
            if word not in ORG_WORDS and word not in _COMPANY_STOP and _city_of(word) is None and \
                    (not is_known(word) or has_tag(word, "NOUN")):
                words.append(word)
    return " ".join(words) if words else None
