"""The card's classes, with the taxonomy's ids: lead source, outcome, refusal reason, pipeline, urgency,
decision maker.

Each is decided by rules over what was said and by whom (a client's "решаю я" counts, a manager's
question does not), in the order the sales method qualifies a lead: where it came from, how it
ended, which pipeline it belongs to. A class the call gives no ground for stays None.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

from assist.extract.dates import find_dates
from assist.extract.evidence import Found
from assist.extract.text import has_tag, tokens
from assist.transcript import Utterance

# regexes over the space-joined lower-case words of one utterance
_EXHIBITION = re.compile(r"\b(выставк|ярмарк|форум\w*|на стенде)")
# "мы с вами виделись на интершарме": met at an event (a named one the lists cannot know)
_MET_AT = re.compile(r"\b(виделись|познакомились|встречались|пересекались|общались) на (\w+)")
_NOT_EVENTS = frozenset({"неделе", "днях", "прошлой", "прошлом", "этой", "том", "той", "связи", "встрече", "звонке"})
# "посоветовал(и)", not "посоветоваться с мужем" (to consult someone is no referral)
_REFERRAL = re.compile(r"\b(рекомендовал|порекомендовал|посоветовал|по рекомендации|контакт дал|номер дал|"
                       r"телефон дал|направил|сарафан|от знакомых|знакомые посоветовали|друзья посоветовали|"
                       r"по совету|от коллег|коллеги посоветовали|(номер|телефон|контакт\w*) (мне |нам )?"
                       r"(скинул\w*|передал\w*))")
# the manager says who gave him the client's number (an outbound call on a recommendation)
_REFERRAL_MANAGER = re.compile(r"\b(ваш\w* (номер|телефон|контакт\w*) (мне |нам )?(дал|дала|дали|передал\w*)|"
                               r"(мне|нам) вас (по)?рекомендовал\w*|по рекомендации)")
_MARKETPLACE = re.compile(r"\b(авито|озон\w*|вайлдбер+из|вб|маркетплейс\w*|яндекс маркет\w*|юл[ау]\b|объявлени)")
_REPEAT = re.compile(r"\b(постоянн\w+ клиент|как в прошлый раз|аккаунт менеджер|ваш менеджер|снова к вам|"
                     r"опять к вам|уже работали|уже покупали у вас|вы нам \w+ \w*(ли|ла|ал)\b|"
                     r"итоги квартала|по итогам квартала|повторн\w+ заказ|еще раз заказать|"
                     r"(у нас|мы) с вами (\w+ )?(договор|контракт|работаем|сотрудничаем)|по (нашему|вашему) договору)")
_INBOUND = re.compile(r"\b(сайт\w*|реклам\w*|яндекс\w*|гугл\w*|интернет\w*|поиск\w*|инстаграм\w*|вконтакте|"
                      r"соцсет\w*|нашел|нашла|нашли|телеграм\w*|ютуб\w*|рассылк\w*|вебинар\w*|два гис|2гис)")

# An outbound call back on the client's own request is an inbound lead, not a cold call.
_REQUESTED = re.compile(r"\b(оставлял\w*|оставил\w*|отправлял\w*)\s+(\w+\s+){0,2}заявк\w*|\bпо (вашей|вашему) "
                        r"(заявке|запросу|обращению)|\bвы (нам )?(писали|запрашивали|обращались)")

_WON = re.compile(r"\b(давайте оформлять|оформляем|оформляйте|выставляйте сч[её]т|присылай\w* сч[её]т|"
                  r"сч[её]т на (пред)?оплату|ссылк\w* на оплату|беру\b|берем однозначно|заказываю|"
                  r"в оплату запущу|оплачу|готов[ыа]? оплатить)")
_REFUSED = re.compile(r"\b(нет спасибо|не нужно|не надо|не интересно|неинтересно|не стоит|никуда не уйд|"
                      r"не будем|не актуально|неактуально|откажемся|отказываемся|не звоните|не поведусь|"
                      r"не вижу смысла|смысла (\w+ ){0,2}не вижу|вряд ли (\w+ ){0,3}(будем|станем)\b|"
                      r"не рассматриваем|не заинтересован\w*)")
# the client asks to be called back (how a postponement is said when it names a far date)
_CALL_BACK = re.compile(r"\b(наберите|позвоните|перезвоните|звоните|свяжитесь|наберете)\b")
POSTPONE_DAYS = 45  # a call back asked for this far ahead is a postponement, not a next step
NEAR_STEP_DAYS = 14  # a step set within two weeks after the last "later" outweighs it
# a purchase said under a condition ("если белая освободится ... сразу оформляемся") is not made yet
_CONDITION = re.compile(r"\bесли\b")
_POSTPONED = re.compile(r"\b(после нового года|после праздников|вернемся к этому|вернемся к разговору|"
                        r"не до этого|перезвоните|(давайте|вернемся|созвонимся|наберите|позвоните) (\w+ )?через|"
                        r"не сейчас|отложим|пока не актуально|ближе к делу|давайте позже|созвонимся позже)")
_AGREED = re.compile(r"\b(договорились|подходит|устраивает|можно|давайте|до встречи|жду|ждем|записываю|"
                     r"удобно|хорошо)")
_REJECT = re.compile(r"\b(поздно|не могу|не получится|не подходит|не устраивает|занят|не успеваю)")

_DM_TRUE = re.compile(r"\b((решаю|выбираю|подписываю|утверждаю) (то |же )?(все равно |тут |здесь )?(я|сам|сама)\b|"
                      r"я (и |же |то )?(сам |сама )?(все )?(решаю|"
                      r"выбираю|подписываю|принимаю решени)|решение за мной|за мной решение|решения принимаю я|"
                      r"(согласовывать|согласовать|советоваться|советовать) (\w+ )?не с кем|(сам|сама) я (все )?решаю|"
                      r"решать мне|(я|сам|сама) (\w+ )?(тут |здесь )?(хозяин|хозяйка)\b|"
                      r"решени\w* (\w+ ){0,3}принимаю (я|сам|сама)\b|принимаю (\w+ )?решени)")
_DM_FALSE = re.compile(r"\b((решает|принимает|решение принимает|вводит|утверждает|подписывает) (\w+ )?"
                       r"(генеральн|директор|собственник|руководител|начальник|коммерческ|комисси|комитет|"
                       r"совет|учредител|владел|шеф|муж|жена)|не я решаю|решаю не я|решение не за мной|"
                       r"надо согласовать|нужно согласовать|согласую с|решение за (\w+ )?(директор|руководств|"
                       r"начальств|собственник|учредител|генеральн)|(покажу|передам|доложу) (\w+ )?(директору|"
                       r"руководству|начальству|генеральному|собственнику|учредителю)|посоветоваться с (\w+ )?"
                       r"(директором|руководством|генеральным|начальником|мужем|женой)|"
                       r"(утверждать|решать|подписывать|выбирать) (\w+ )?(будет|будут)\b|"
                       r"(будет|будут) (утверждать|решать|подписывать|выбирать)|"
                       r"я (только |просто )?собираю (\w+ )?(предложения|информацию|варианты|цены))")
# The client names a job that owns the decision ("я директор транспортной компании"): a weaker sign,
# used only when nothing in the call says who decides.
_DM_JOB = re.compile(r"\bя (\w+ )?(директор|владелец|владелица|собственник|учредитель|руководитель|хозяин|хозяйка)\b")

_HIGH = re.compile(r"\b(срочно|срочная|как можно скорее|как можно быстрее|побыстрее|поскорее|немедленно|"
                   r"горят сроки|сроки горят|нужно вчера|прямо сейчас нужно)")
_LOW = re.compile(r"\b(не горит|не срочно|не к спеху|не торопимся|не спешим|в течение года|следующего года|"
                  r"в следующем году|когда-нибудь|пока присматриваемся|присматриваюсь|на перспективу|"
                  r"в перспективе|на будущее|просто узна(ю|ем)|не тороплюсь|не спешу)")

_NEED = re.compile(r"\b(надо|нужно|нужен|нужна|нужны|успеть|должн\w*|хотим|хотелось|планируем|необходимо)")
# "оптом", "оптовый", not a product line called "оптима"
_WHOLESALE = re.compile(r"\b(опт(ом|ов\w*|а|е|у)?\b|матриц\w*|дистрибу\w*|дистрибь\w*|наценк\w*|закупочн\w*|"
                        r"ретро бонус\w*|на полк\w*|пробн\w+ парти\w*|перв\w+ парти\w*|перв\w+ загрузк\w*|"
                        r"дилер\w* сет\w*)")
# the seller's own salon is one ("у вас в салоне"); "для салонов красоты" is a kind of customer
# "посмотреть вживую" is no walk-in by itself: a demonstration at the client's is part of a project sale
_WALK_IN = re.compile(r"\b(салон(а|е|у|ом)?\b|шоу ?рум\w*|в зал\w*|в зале|приехать посмотреть|"
                      r"заеду|подъеду посмотреть|приезжайте|торгов\w+ зал\w*|на кассе|витрин\w*)")
_PROJECT = ("проект", "окупаемост", "тендер", "внедрен", "пилот", "обосновани", "генеральн", r"смет[аеуы]?\b",
            r"иск(а|ом|у)?\b", "арбитраж", "консультаци", "модернизац", "техническ", "аудит", "коммерческое предложени",
            "техническое задание", "закупочн\\w+ процедур",
            # a complex sale: a staff training programme, a demonstration, founders or a chief physician
            # who approve, a comparison prepared for them
            "обучени", "программ", "кейс", "демонстрац", "учредител", r"главн\w* врач", "главврач",
            "сравнительн", "филиал")


def _joined(u: Utterance) -> str:
    return " ".join(tokens(u.text))


def _first(utterances: Iterable[Utterance], pattern: re.Pattern[str], speaker: str | None = None) -> Utterance | None:
    for u in utterances:
        if (speaker is None or u.speaker == speaker) and pattern.search(_joined(u)):
            return u
    return None


def lead_source(utterances: list[Utterance], direction: str) -> Found | None:
    """cold, inbound, referral, repeat, exhibition, marketplace (``other`` is never guessed)."""
    for pattern, value, speaker, confidence in (
            (_REFERRAL, "referral", "client", 0.85), (_REFERRAL_MANAGER, "referral", "manager", 0.75),
            (_EXHIBITION, "exhibition", None, 0.85), (_MARKETPLACE, "marketplace", "client", 0.8),
            (_REPEAT, "repeat", None, 0.75)):
        u = _first(utterances, pattern, speaker)
        if u is not None:
            return Found(value, u.index, u.text, confidence)
        if value == "exhibition":
            met = next((x for x in utterances if _met_at_event(_joined(x))), None)
            if met is not None:
                return Found("exhibition", met.index, met.text, 0.7)
    if direction == "inbound":
        u = _first(utterances, _INBOUND, "client") or (utterances[0] if utterances else None)
        if u is not None:
            return Found("inbound", u.index, u.text, 0.7 if _INBOUND.search(_joined(u)) else 0.55)
    if direction == "outbound" and utterances:
        asked = _first(utterances, _REQUESTED, None)
        if asked is not None:
            return Found("inbound", asked.index, asked.text, 0.75)
        return Found("cold", utterances[0].index, utterances[0].text, 0.55)
    return None


def _met_at_event(text: str) -> bool:
    """"виделись на интершарме": met at a named event; "общались на прошлой неделе" is no event."""
    for m in _MET_AT.finditer(text):
        word = m.group(2)
        if word not in _NOT_EVENTS and has_tag(word, "NOUN", "loct") and not has_tag(word, "ADJF"):
            return True
    return False


def _won_said(text: str) -> bool:
    m = _WON.search(text)
    if m is None or re.search(r"за (мой|наш|свой) сч", text):
        return False
    return not _CONDITION.search(text[:m.start()])


def outcome(utterances: list[Utterance], next_contact: Found | None, base: date | None = None) -> Found | None:
    """won, refused, postponed, next_step_agreed, no_contact.

    A client asking to be called back ("наберите мне в конце мая") when the next contact is more than
    ``POSTPONE_DAYS`` after the call has postponed the deal, not agreed a step."""
    client = [u for u in utterances if u.speaker == "client"]
    if not client or sum(len(tokens(u.text)) for u in client) < 4:
        first = utterances[0] if utterances else None
        return Found("no_contact", first.index, first.text, 0.6) if first else None
    won = [u for u in utterances if _won_said(_joined(u))]
    if won:
        u = won[-1]
        return Found("won", u.index, u.text, 0.8)
    tail = client[-4:]
    refusal = [u for u in tail if _REFUSED.search(_joined(u))]
    postponed = [u for u in client if _POSTPONED.search(_joined(u))]
    if not postponed and next_contact is not None and base is not None and \
            (date.fromisoformat(next_contact.value) - base).days > POSTPONE_DAYS:
        postponed = [u for u in client if _CALL_BACK.search(_joined(u))]
    if postponed and next_contact is not None and base is not None and next_contact.utterance > postponed[-1].index \
            and (date.fromisoformat(next_contact.value) - base).days <= NEAR_STEP_DAYS:
        postponed = []  # "это уже после праздников выходит ... давайте так в субботу приезжаю": a step after all
    if refusal and next_contact is None and not postponed:
        u = refusal[-1]
        return Found("refused", u.index, u.text, 0.75)
    if postponed:
        u = postponed[-1]
        return Found("postponed", u.index, u.text, 0.7)
    if next_contact is not None:
        return Found("next_step_agreed", next_contact.utterance, next_contact.text, 0.75)
    step = _agreed_step(utterances)
    if step is not None and not refusal:
        return Found("next_step_agreed", step.index, step.text, 0.55)
    if refusal:
        u = refusal[-1]
        return Found("refused", u.index, u.text, 0.6)
    return None


_REASON_PATTERNS = (
    ("competitor", re.compile(r"\b(у (них|конкурент\w*|\w+) дешевле|нам дают|работаем с|другой поставщик|"
                              r"свой поставщик|уже есть поставщик|от них никуда|другая компания|у других|"
                              r"(уже )?есть (свой |свои |другой |постоянный )?(поставщик|подрядчик|исполнитель|"
                              r"партнер|агентство|подрядчики|поставщики)\b|договор с)")),
    ("price", re.compile(r"\b(дорого|дороговато|цена кусается|не по карману|слишком дорог)")),
    ("no_budget", re.compile(r"\b(нет (\w+ )?бюджета|денег (\w+ )?нет|нет (\w+ )?денег|бюджет\w* (\w+ )?нет|"
                             r"не заложено)")),
    ("timing", re.compile(r"\b(не время|не сейчас|некогда|не до этого)")),
    ("terms", re.compile(r"\b(отсрочк\w*|предоплат\w*|условия не|сроки не)")),
    ("no_need", re.compile(r"\b(не нужно|не нужен|не нужна|не интересно|неинтересно|нет потребности|"
                            r"сами справляемся|нас устраивают|ни к чему|не требуется|незачем|без надобности|"
                            r"не нуждаемся|(нам )?(и так )?хватает)")),
)
_OBJECTION_REASON = {"competitor_cheaper": "competitor", "already_have_supplier": "competitor",
                     "price_too_high": "price", "no_budget": "no_budget", "no_need": "no_need",
                     "call_back_later": "timing", "no_time": "timing", "payment_terms": "terms",
                     "delivery_terms": "terms", "bad_past_experience": "other", "doubt_reliability": "other",
                     "quality_concerns": "other", "need_proof": "other"}


_STEP = re.compile(r"\b(пришлю|вышлю|отправлю|подготовлю|перезвоню|наберу|позвоню|созвонимся|свяжемся|"
                   r"встретимся|приеду|подъеду|договорились)")
_ACCEPT = re.compile(r"^(да|хорошо|давайте|договорились|ок|окей|ладно|отлично|присылайте|жду|ждем|буду ждать|"
                     r"конечно|подходит|согласен|согласна)\b")


def _agreed_step(utterances: list[Utterance]) -> Utterance | None:
    """A next step without a fixed day: the manager promises one ("пришлю смету и созвонимся") and the
    client's answer accepts it ("хорошо", "давайте")."""
    for n in range(len(utterances) - 1, -1, -1):
        u = utterances[n]
        if u.speaker != "manager" or not _STEP.search(_joined(u)):
            continue
        reply = next((x for x in utterances[n + 1:] if x.speaker == "client"), None)
        if reply is not None and _ACCEPT.search(_joined(reply)) and not _REFUSED.search(_joined(reply)):
            return reply
    return None


def refusal_reason(utterances: list[Utterance], objections: list[str], result: Found | None) -> Found | None:
    if result is None or result.value != "refused":
        return None
    client = [u for u in utterances if u.speaker == "client" and u.index <= result.utterance]
    # What the client says at the end, the specific reasons first: a bare "не нужно" is how most
    # refusals end, so it gives "no_need" only when no turn of the ending names a specific reason
    # ("у нас уже есть подрядчик ... нет спасибо не нужно" is a competitor). Then the objections raised.
    for reason, pattern in _REASON_PATTERNS:
        for u in reversed(client[-3:]):
            if pattern.search(_joined(u)):
                return Found(reason, u.index, u.text, 0.7)
    for category in reversed(objections):
        if category in _OBJECTION_REASON:
            return Found(_OBJECTION_REASON[category], result.utterance, result.text, 0.55)
    return Found("other", result.utterance, result.text, 0.4)


def decision_maker(utterances: list[Utterance], result: Found | None) -> Found | None:
    verdict: Found | None = None
    for u in utterances:
        if u.speaker != "client":
            continue
        text = _joined(u)
        if _DM_FALSE.search(text) and not _DM_TRUE.search(text):
            verdict = Found(False, u.index, u.text, 0.8)
        elif _DM_TRUE.search(text):
            verdict = Found(True, u.index, u.text, 0.85)
    if verdict is None:
        job = next((u for u in utterances if u.speaker == "client" and _DM_JOB.search(_joined(u))), None)
        if job is not None:
            verdict = Found(True, job.index, job.text, 0.6)
    if verdict is None and result is not None and result.value == "won":
        verdict = Found(True, result.utterance, result.text, 0.6)  # whoever places the order decides
    if verdict is None:
        # so does a client who says he will order, even on a condition ("если освободится ... оформляемся")
        order = next((u for u in utterances if u.speaker == "client" and _WON.search(_joined(u))), None)
        if order is not None:
            verdict = Found(True, order.index, order.text, 0.5)
    return verdict


def urgency(utterances: list[Utterance], base: date | None, result: Found | None) -> Found | None:
    """high (two weeks or less, "срочно"), medium (up to half a year), low (later, "не горит", postponed).

    The days count to the nearest deadline ("к марту", "край в среду") or a month the client plans for
    ("открыться хотим в марте"); "не горит" said together with a deadline ("не горит но к весне бы")
    leaves the deadline to decide. A call that names none stays None (a refusal too)."""
    for u in utterances:
        if u.speaker == "client" and _HIGH.search(_joined(u)):
            return Found("high", u.index, u.text, 0.8)
    for u in utterances:
        if u.speaker == "client" and _LOW.search(_joined(u)):
            if base is not None and any(m.deadline for m in find_dates(u.text, base)):
                continue  # "не горит но к весне хорошо бы успеть": the deadline said with it decides
            return Found("low", u.index, u.text, 0.75)
    if result is not None and result.value == "postponed":
        return Found("low", result.utterance, result.text, 0.65)
    if base is None:
        return None
    deadlines: list[tuple[int, Utterance]] = []
    for speaker in ("client", "manager"):
        for u in utterances:
            if u.speaker != speaker:
                continue
            words = _joined(u)
            for m in find_dates(u.text, base):
                adverb = tokens(u.text)[m.start] in ("весной", "летом", "осенью", "зимой")
                if not (m.deadline or (m.kind == "season" and (not adverb or _NEED.search(words)))
                        or (m.kind == "month" and speaker == "client" and _NEED.search(words))):
                    continue  # "летом жарко" describes; "на весенний сезон", "хотим начать весной", "открыться
                    # хотим в марте" plan
                if m.fixed and (speaker == "manager" or not (_NEED.search(words) or tokens(u.text)[m.start - 1:m.start]
                                                             in (["к"], ["ко"]))):
                    continue  # "тогда до понедельника": a goodbye, not a deadline
                deadlines.append(((m.value - base).days, u))
        if deadlines:
            break
    if not deadlines:
        return None
    days, u = min(deadlines, key=lambda d: d[0])
    if days < 0:
        return None
    level = "high" if days <= 14 else "medium" if days <= 183 else "low"
    return Found(level, u.index, u.text, 0.65)


def pipeline(utterances: list[Utterance], source: Found | None, result: Found | None) -> Found | None:
    """farming (existing client), nurturing (postponed), walk_in, wholesale, project, transactional.

    Project needs two different cues of a complex sale (``_PROJECT``); seeing a product "вживую" alone
    is no walk-in (a demonstration belongs to project sales as well)."""
    if source is not None and source.value == "repeat":
        return Found("farming", source.utterance, source.text, 0.75)
    if result is not None and result.value == "postponed":
        return Found("nurturing", result.utterance, result.text, 0.7)
    for pattern, value in ((_WALK_IN, "walk_in"), (_WHOLESALE, "wholesale")):
        u = _first(utterances, pattern)
        if u is not None:
            return Found(value, u.index, u.text, 0.65)
    stems: dict[str, Utterance] = {}
    for u in utterances:
        text = _joined(u)
        for stem in _PROJECT:
            if stem not in stems and re.search(rf"\b{stem}", text):
                stems[stem] = u
    if len(stems) >= 2:
        u = min(stems.values(), key=lambda x: x.index)
        return Found("project", u.index, u.text, 0.6)
    if not utterances or result is None or result.value == "no_contact":
        return None
    return Found("transactional", result.utterance, result.text, 0.45)
