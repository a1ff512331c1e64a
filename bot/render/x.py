"""X (Twitter) rendering: twitter-text v3 weighted length and fitting a public reply.

X counts a post in weighted characters: code points in a few ranges (Latin and other alphabetic
scripts, some punctuation) weigh 1, everything else 2; every URL weighs 23 (it becomes a t.co
link); an emoji sequence weighs 2 as a whole; the text is NFC-normalised first.

URL detection follows twitter-text: a scheme URL or a bare domain counts 23 only when its top-level
domain is one X knows (the IANA list twitter-text ships). Reserved names such as ``.example`` are
not links to X, so their characters count one by one. Where the live list might know a TLD that we
do not (a scheme URL, a ``www.`` host or a host with a path ending in an unknown TLD), the count
is ``max(characters, 23)``: never below what X will count, whichever way X decides.
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

from bot.render.text import ELLIPSIS, emoji_end, shorten

MAX_WEIGHTED_LENGTH = 280
URL_WEIGHT = 23
EMOJI_WEIGHT = 2
_DEFAULT_WEIGHT = 2
_WEIGHT_ONE_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
_INVALID_CHARS = re.compile("[\ufffe\ufeff\uffff]")  # X rejects a post containing these
# Weight-1 characters that cannot start an emoji sequence (not 0-9 # * © ®): counted in bulk.
_PLAIN_RUN = re.compile("[\x00-\x22\x24-\x29\x2b-\x2f\x3a-\xa8\xaa-\xad\xaf-\u10ff]+")

# The top-level domains twitter-text recognises (its conformance/tld_lib.yml, an IANA snapshot).
# Only membership matters; a TLD missing here is handled conservatively (see the module doc).
_GENERIC_TLDS = """
aaa aarp abarth abb abbott abbvie abc able abogado abudhabi academy accenture accountant
accountants aco active actor adac ads adult aeg aero aetna afamilycompany afl africa agakhan
agency aig aigo airbus airforce airtel akdn alfaromeo alibaba alipay allfinanz allstate ally
alsace alstom americanexpress americanfamily amex amfam amica amsterdam analytics android
anquan anz aol apartments app apple aquarelle arab aramco archi army arpa art arte asda asia
associates athleta attorney auction audi audible audio auspost author auto autos avianca aws
axa azure baby baidu banamex bananarepublic band bank bar barcelona barclaycard barclays
barefoot bargains baseball basketball bauhaus bayern bbc bbt bbva bcg bcn beats beauty beer
bentley berlin best bestbuy bet bharti bible bid bike bing bingo bio biz black blackfriday
blanco blockbuster blog bloomberg blue bms bmw bnl bnpparibas boats boehringer bofa bom bond
boo book booking boots bosch bostik boston bot boutique box bradesco bridgestone broadway
broker brother brussels budapest bugatti build builders business buy buzz bzh cab cafe cal
call calvinklein cam camera camp cancerresearch canon capetown capital capitalone car
caravan cards care career careers cars cartier casa case caseih cash casino cat catering
catholic cba cbn cbre cbs ceb center ceo cern cfa cfd chanel channel charity chase chat
cheap chintai chloe christmas chrome chrysler church cipriani circle cisco citadel citi
citic city cityeats claims cleaning click clinic clinique clothing cloud club clubmed coach
codes coffee college cologne com comcast commbank community company compare computer comsec
condos construction consulting contact contractors cooking cookingchannel cool coop corsica
country coupon coupons courses credit creditcard creditunion cricket crown crs cruise
cruises csc cuisinella cymru cyou dabur dad dance data date dating datsun day dclk dds deal
dealer deals degree delivery dell deloitte delta democrat dental dentist desi design dev dhl
diamonds diet digital direct directory discount discover dish diy dnp docs doctor dodge dog
doha domains doosan dot download drive dtv dubai duck dunlop duns dupont durban dvag dvr
earth eat eco edeka edu education email emerck energy engineer engineering enterprises epost
epson equipment ericsson erni esq estate esurance etisalat eurovision eus events everbank
exchange expert exposed express extraspace fage fail fairwinds faith family fan fans farm
farmers fashion fast fedex feedback ferrari ferrero fiat fidelity fido film final finance
financial fire firestone firmdale fish fishing fit fitness flickr flights flir florist
flowers flsmidth fly foo food foodnetwork football ford forex forsale forum foundation fox
free fresenius frl frogans frontdoor frontier ftr fujitsu fujixerox fun fund furniture
futbol fyi gal gallery gallo gallup game games gap garden gbiz gdn gea gent genting george
ggee gift gifts gives giving glade glass gle global globo gmail gmbh gmo gmx godaddy gold
goldpoint golf goo goodhands goodyear goog google gop got gov grainger graphics gratis green
gripe grocery group guardian gucci guge guide guitars guru hair hamburg hangout haus hbo
hdfc hdfcbank health healthcare help helsinki here hermes hgtv hiphop hisamitsu hitachi hiv
hkt hockey holdings holiday homedepot homegoods homes homesense honda honeywell horse
hospital host hosting hot hoteles hotels hotmail house how hsbc htc hughes hyatt hyundai ibm
icbc ice icu ieee ifm iinet ikano imamat imdb immo immobilien inc industries infiniti info
ing ink institute insurance insure int intel international intuit investments ipiranga irish
iselect ismaili ist istanbul itau itv iveco iwc jaguar java jcb jcp jeep jetzt jewelry jio
jlc jll jmp jnj jobs joburg jot joy jpmorgan jprs juegos juniper kaufen kddi kerryhotels
kerrylogistics kerryproperties kfh kia kim kinder kindle kitchen kiwi koeln komatsu kosher
kpmg kpn krd kred kuokgroup kyoto lacaixa ladbrokes lamborghini lamer lancaster lancia
lancome land landrover lanxess lasalle lat latino latrobe law lawyer lds lease leclerc
lefrak legal lego lexus lgbt liaison lidl life lifeinsurance lifestyle lighting like lilly
limited limo lincoln linde link lipsy live living lixil llc loan loans locker locus loft lol
london lotte lotto love lpl lplfinancial ltd ltda lundbeck lupin luxe luxury macys madrid
maif maison makeup man management mango map market marketing markets marriott marshalls
maserati mattel mba mcd mcdonalds mckinsey med media meet melbourne meme memorial men menu
meo merckmsd metlife miami microsoft mil mini mint mit mitsubishi mlb mls mma mobi mobile
mobily moda moe moi mom monash money monster montblanc mopar mormon mortgage moscow moto
motorcycles mov movie movistar msd mtn mtpc mtr museum mutual mutuelle nab nadex nagoya name
nationwide natura navy nba nec net netbank netflix network neustar new newholland news next
nextdirect nexus nfl ngo nhk nico nike nikon ninja nissan nissay nokia northwesternmutual
norton now nowruz nowtv nra nrw ntt nyc obi observer off office okinawa olayan olayangroup
oldnavy ollo omega one ong onion onl online onyourside ooo open oracle orange org organic
orientexpress origins osaka otsuka ott ovh page pamperedchef panasonic panerai paris pars
partners parts party passagens pay pccw pet pfizer pharmacy phd philips phone photo
photography photos physio piaget pics pictet pictures pid pin ping pink pioneer pizza place
play playstation plumbing plus pnc pohl poker politie porn post pramerica praxi press prime
pro prod productions prof progressive promo properties property protection pru prudential
pub pwc qpon quebec quest qvc racing radio raid read realestate realtor realty recipes red
redstone redumbrella rehab reise reisen reit reliance ren rent rentals repair report
republican rest restaurant review reviews rexroth rich richardli ricoh rightathome ril rio
rip rmit rocher rocks rodeo rogers room rsvp rugby ruhr run rwe ryukyu saarland safe safety
sakura sale salon samsclub samsung sandvik sandvikcoromant sanofi sap sapo sarl sas save
saxo sbi sbs sca scb schaeffler schmidt scholarships school schule schwarz science scjohnson
scor scot search seat secure security seek select sener services ses seven sew sex sexy sfr
shangrila sharp shaw shell shia shiksha shoes shop shopping shouji show showtime shriram
silk sina singles site ski skin sky skype sling smart smile sncf soccer social softbank
software sohu solar solutions song sony soy space spiegel sport spot spreadbetting srl srt
stada staples star starhub statebank statefarm statoil stc stcgroup stockholm storage store
stream studio study style sucks supplies supply support surf surgery suzuki swatch
swiftcover swiss sydney symantec systems tab taipei talk taobao target tatamotors tatar
tattoo tax taxi tci tdk team tech technology tel telecity telefonica temasek tennis teva thd
theater theatre tiaa tickets tienda tiffany tips tires tirol tjmaxx tjx tkmaxx tmall today
tokyo tools top toray toshiba total tours town toyota toys trade trading training travel
travelchannel travelers travelersinsurance trust trv tube tui tunes tushu tvs ubank ubs
uconnect unicom university uno uol ups vacations vana vanguard vegas ventures verisign
vermögensberater vermögensberatung versicherung vet viajes video vig viking villas vin vip
virgin visa vision vista vistaprint viva vivo vlaanderen vodka volkswagen volvo vote voting
voto voyage vuelos wales walmart walter wang wanggou warman watch watches weather
weatherchannel webcam weber website wed wedding weibo weir whoswho wien wiki williamhill win
windows wine winners wme wolterskluwer woodside work works world wow wtc wtf xbox xerox
xfinity xihuan xin xperia xxx xyz yachts yahoo yamaxun yandex yodobashi yoga yokohama you
youtube yun zappos zara zero zip zippo zone zuerich дети католик ком москва онлайн орг рус
сайт קום ابوظبي اتصالات ارامكو العليان بازار بيتك شبكة عرب كاثوليك كوم موبايلي موقع همراه
कॉम नेट संगठन คอม みんな クラウド グーグル コム ストア セール ファッション ポイント 世界
中信 中文网 企业 佛山 信息 健康 八卦 公司 公益 商城 商店 商标 嘉里 嘉里大酒店 在线 大众汽车
大拿 天主教 娱乐 家電 工行 广东 微博 慈善 我爱你 手机 手表 招聘 政务 政府 新闻 时尚 書籍
机构 淡马锡 游戏 点看 珠宝 移动 组织机构 网址 网店 网站 网络 联通 诺基亚 谷歌 购物 通販 集团
電訊盈科 飞利浦 食品 餐厅 香格里拉 닷넷 닷컴 삼성
"""

_COUNTRY_TLDS = """
ac ad ae af ag ai al am an ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bl bm bn bo
bq br bs bt bv bw by bz ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj dk dm
do dz ec ee eg eh er es et eu fi fj fk fm fo fr ga gb gd ge gf gg gh gi gl gm gn gp gq gr gs
gt gu gw gy hk hm hn hr ht hu id ie il im in io iq ir is it je jm jo jp ke kg kh ki km kn kp
kr kw ky kz la lb lc li lk lr ls lt lu lv ly ma mc md me mf mg mh mk ml mm mn mo mp mq mr ms
mt mu mv mw mx my mz na nc ne nf ng ni nl no np nr nu nz om pa pe pf pg ph pk pl pm pn pr ps
pt pw py qa re ro rs ru rw sa sb sc sd se sg sh si sj sk sl sm sn so sr ss st su sv sx sy sz
tc td tf tg th tj tk tl tm tn to tp tr tt tv tw tz ua ug uk um us uy uz va vc ve vg vi vn vu
wf ws ye yt za zm zw ελ бг бел ею мкд мон рф срб укр қаз հայ الاردن الجزائر السعودية المغرب
امارات ایران بارت بھارت تونس سودان سورية عراق عمان فلسطين قطر مصر مليسيا موريتانيا پاکستان
ڀارت भारत भारतम् भारोत বাংলা ভারত ভাৰত ਭਾਰਤ ભારત ଭାରତ இந்தியா இலங்கை சிங்கப்பூர் భారత్ ಭಾರತ
ഭാരതം ලංකා ไทย გე 中国 中國 台湾 台灣 新加坡 澳門 香港 한국
"""

_TLDS = frozenset(_GENERIC_TLDS.split()) | frozenset(_COUNTRY_TLDS.split())
_CCTLDS = frozenset(_COUNTRY_TLDS.split())
# Without a scheme, "name.<ccTLD>" alone is not a link to X, except for these.
_SHORT_DOMAIN_CCTLDS = frozenset({"co", "tv"})

_LATIN_ACCENTS = (
    "\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259\u025b"
    "\u0263\u0268\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
)
# A label of a scheme URL's host: anything but ASCII punctuation (other than - and _), spaces,
# controls, directional marks and the invalid characters.
_NOT_LABEL = (
    r"\s\x00-\x2c\x2e\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f"
    "\u180e\u202a-\u202e\u2066-\u2069\ufeff\ufffe\uffff"
)
_LABEL = rf"[^{_NOT_LABEL}]+"
_ASCII_LABEL = rf"[a-z0-9\-{_LATIN_ACCENTS}]+"  # bare domains: ASCII and Latin letters only
_URL_START = re.compile(
    rf"(?<![A-Za-z0-9@＠$#＃])(?P<proto>https?://)(?P<uhost>{_LABEL}(?:\.{_LABEL})+)"
    # Also not right after a Latin letter: that start was tried already, with the same result.
    rf"|(?<![A-Za-z0-9@＠$#＃\-_./{_LATIN_ACCENTS}])(?P<ahost>{_ASCII_LABEL}(?:\.{_ASCII_LABEL})+)",
    re.IGNORECASE,
)
_PATH_CHARS = rf"a-z\u0400-\u04ff0-9!*';:=+,.$/%#\[\]\-\u2013_~&|@{_LATIN_ACCENTS}"
_PATH_END_CHARS = rf"+\-a-z\u0400-\u04ff0-9=_#/{_LATIN_ACCENTS}"
_PORT = re.compile(r":[0-9]+")
_PATH = re.compile(rf"/(?:[{_PATH_CHARS}]*[{_PATH_END_CHARS}])?", re.IGNORECASE)
_QUERY = re.compile(r"\?[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]*[a-z0-9\-_&=#/]", re.IGNORECASE)


class Segment(NamedTuple):
    """A unit of a post as X weighs it: one character, one emoji sequence or one URL."""

    start: int
    end: int
    weight: int
    kind: str  # "char" | "emoji" | "url"


def char_weight(char: str) -> int:
    """Weight of one code point outside URLs and emoji sequences (1 or 2)."""
    cp = ord(char)
    for low, high in _WEIGHT_ONE_RANGES:
        if low <= cp <= high:
            return 1
    return _DEFAULT_WEIGHT


def _raw_weight(text: str) -> int:
    return sum(char_weight(char) for char in text)


def _label_ok(label: str, allow_underscore: bool) -> bool:
    if label.startswith("-") or label.endswith("-") or (not allow_underscore and "_" in label):
        return False
    if label.isascii():
        return len(label) <= 63
    try:  # X checks the length of the punycode form of a label
        return len("xn--" + label.encode("punycode").decode("ascii")) <= 63
    except UnicodeError:
        return False


def _is_tld(candidate: str) -> bool:
    lowered = candidate.lower()
    if lowered.startswith("xn--"):
        return len(lowered) > 4 and lowered[4:].isalnum() and lowered.isascii()
    return lowered in _TLDS


def _blocks_tld(char: str) -> bool:
    """twitter-text requires a TLD to be followed by anything but [0-9A-Za-z@+-]."""
    return (char.isascii() and char.isalnum()) or char in "@+-"


def _find_tld(labels: list[str], next_char: str) -> tuple[int, int] | None:
    """Find where X's URL ends inside a host: ``(k, cut)`` = labels[:k], the last cut to ``cut``.

    Like twitter-text's regular expression, prefers the most labels, then the longest TLD.
    """
    for k in range(len(labels), 1, -1):
        label = labels[k - 1]
        after_label = next_char if k == len(labels) else "."
        # A TLD is at most 63 characters, so a longer label can only end in one at a boundary.
        for cut in range(min(len(label), 63), 0, -1):
            follow = label[cut] if cut < len(label) else after_label
            if follow and _blocks_tld(follow):
                continue
            if _is_tld(label[:cut]):
                return k, cut
    return None


def _url_segment(text: str, match: re.Match[str]) -> tuple[Segment | None, int]:
    """Weigh one URL candidate. Returns its segment (None if it is not a URL) and where it ends."""
    proto = match.group("proto") or ""
    group = "uhost" if proto else "ahost"
    host, host_start, host_end = match.group(group), match.start(group), match.end(group)
    next_char = text[host_end : host_end + 1]
    end = host_end
    port = _PORT.match(text, end)
    if port:
        end = port.end()
    path = _PATH.match(text, end)
    if path:
        end = path.end()
    query = _QUERY.match(text, end)
    if query:
        end = query.end()
    start = match.start()
    labels = host.split(".")
    raw = _raw_weight(text[start:end])
    found = _find_tld(labels, next_char)
    if found is not None:
        k, cut = found
        names = labels[: k - 1]
        valid = all(_label_ok(label, bool(proto)) for label in names[:-1]) and _label_ok(
            names[-1], False
        )
        full = k == len(labels) and cut == len(labels[-1])
        tld = labels[k - 1][:cut].lower()
        short = not proto and k == 2 and tld in _CCTLDS and tld not in _SHORT_DOMAIN_CCTLDS
        if valid and not (short and not (full and path)):
            if full:
                return Segment(start, end, URL_WEIGHT, "url"), end
            url_end = host_start + len(".".join(labels[: k - 1])) + 1 + cut
            return Segment(start, end, URL_WEIGHT + _raw_weight(text[url_end:end]), "url"), end
        return None, end
    # No TLD we know. Guard against a newer list that might: weigh it at least as a link.
    last = labels[-1]
    looks_like_tld = (last.isalpha() and len(last) >= 2) or last.lower().startswith("xn--")
    linkish = bool(proto) or labels[0].lower() == "www" or bool(path) or bool(query)
    names_ok = all(_label_ok(label, bool(proto)) for label in labels[:-1])
    if looks_like_tld and linkish and names_ok and not (next_char and _blocks_tld(next_char)):
        return Segment(start, end, max(raw, URL_WEIGHT), "url"), end
    return None, end


def _url_segments(text: str) -> list[Segment]:
    found: list[Segment] = []
    position = 0
    while True:
        match = _URL_START.search(text, position)
        if match is None:
            return found
        segment, end = _url_segment(text, match)
        if segment is not None:
            found.append(segment)
            position = end
        else:
            # Not a link: its characters are ordinary text; look again after the host.
            position = match.end()


def segments(text: str) -> list[Segment]:
    """Split already NFC-normalised text into the units X weighs.

    Args:
        text: The post text, NFC-normalised.

    Returns:
        Consecutive segments covering the whole text.
    """
    urls = _url_segments(text)
    out: list[Segment] = []
    n = len(text)
    i = 0
    u = 0
    while i < n:
        if u < len(urls) and urls[u].start == i:
            out.append(urls[u])
            i = urls[u].end
            u += 1
            continue
        boundary = urls[u].start if u < len(urls) else n
        end = emoji_end(text, i)
        if end is not None and end <= boundary:
            out.append(Segment(i, end, EMOJI_WEIGHT, "emoji"))
            i = end
        else:
            out.append(Segment(i, i + 1, char_weight(text[i]), "char"))
            i += 1
    return out


def _plain_weight(text: str, start: int, end: int) -> int:
    """Weigh ``text[start:end]``, which holds no URL (the same sums as :func:`segments`)."""
    total = 0
    i = start
    while i < end:
        run = _PLAIN_RUN.match(text, i, end)
        if run:
            total += run.end() - i
            i = run.end()
            continue
        emoji = emoji_end(text, i)
        if emoji is not None and emoji <= end:
            total += EMOJI_WEIGHT
            i = emoji
        else:
            total += char_weight(text[i])
            i += 1
    return total


def weighted_length(text: str) -> int:
    """Count a post the way X does (twitter-text v3 weighted length).

    Args:
        text: The post text, as it would be sent.

    Returns:
        The weighted length; a post is valid up to 280.
    """
    text = unicodedata.normalize("NFC", text)
    total = 0
    position = 0
    for url in _url_segments(text):
        total += _plain_weight(text, position, url.start) + url.weight
        position = url.end
    return total + _plain_weight(text, position, len(text))


def _clean(text: str) -> str:
    return _INVALID_CHARS.sub("", unicodedata.normalize("NFC", text)).strip()


def fit_public_reply(body: str, handle: str, limit: int = MAX_WEIGHTED_LENGTH) -> str:
    """Address a public reply to ``@handle`` and make it fit X's weighted limit.

    The leading ``@handle`` counts toward the limit. When the whole reply does not fit it is
    shortened deliberately: whole trailing sentences go first; if the first sentence alone is too
    long it is cut at a word boundary and ends with "…". URLs and emoji sequences are never cut.

    Args:
        body: The reply text (it may already start with the handle; it is not repeated).
        handle: The customer's X handle, with or without the leading @.
        limit: The weighted budget, 280 on X.

    Returns:
        ``"@handle body"`` (NFC) within ``limit``; just ``"@handle"`` if no part of the body fits.

    Raises:
        ValueError: If the handle is empty, contains spaces, or alone exceeds the limit.
    """
    name = handle.strip().lstrip("@＠")
    if not name or any(char.isspace() for char in name):
        raise ValueError(f"not an X handle: {handle!r}")
    mention = "@" + name
    if weighted_length(mention) > limit:
        raise ValueError(f"the handle {mention} alone exceeds {limit} weighted characters")
    text = _clean(body)
    text = re.sub(rf"^[@＠]{re.escape(name)}(?![A-Za-z0-9_])\s*", "", text, flags=re.IGNORECASE)
    if not text:
        return mention
    prefix = mention + " "

    def fits(candidate: str) -> bool:
        return weighted_length(prefix + candidate) <= limit

    # Emoji need no protection: cuts fall at spaces or between whole clusters anyway.
    protected = [(url.start, url.end) for url in _url_segments(text)]
    short = shorten(text, fits, ellipsis=ELLIPSIS, protected=protected)
    return prefix + short if short else mention
