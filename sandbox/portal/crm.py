"""Companies and contacts: who they are, when they arrived, how far down the funnel they got.

Everything is held column-wise in numpy arrays (or plain lists for text) so a million contacts
fit in memory and most steps are vectorised. Property dicts are built only at write time, in
chunks, by `contact_props` / `company_props`.

Timeline: the portal's history starts `preset.history_days` before the anchor. Contacts arrive
at a growing rate (more recent ones are more numerous), walk up the lifecycle ladder one step
at a time, and a few percent end up archived, merged into another contact, duplicated by email
case, or without email at all (the mess real portals have).
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from sandbox.portal import vocab
from sandbox.portal.clock import iso
from sandbox.portal.rand import DAY_MS, NEVER, increasing_ids, pick
from sandbox.portal.schema import LIFECYCLE_STAGES, join_multi

CONTACT_ID_BASE = 100_000_000_000
COMPANY_ID_BASE = 20_000_000_000
LADDER = 7  # subscriber … evangelist; index 7 ("other") is off the ladder
STEP_DAYS = 40  # mean wait between two lifecycle steps
OTHER = LIFECYCLE_STAGES.index("other")
CUSTOMER = LIFECYCLE_STAGES.index("customer")
OPPORTUNITY = LIFECYCLE_STAGES.index("opportunity")
SQL = LIFECYCLE_STAGES.index("salesqualifiedlead")
# Final lifecycle stage shares: a funnel, each step smaller than the one before.
STAGE_WEIGHTS = (0.37, 0.24, 0.12, 0.07, 0.06, 0.07, 0.015, 0.055)
MESS_SHARES = {"archived": 0.02, "merged": 0.02, "duplicate": 0.015, "no_email": 0.03}
COUNTRY_WEIGHTS = tuple(c.weight for c in vocab.COUNTRIES)
# (country, region) pairs flattened, so a contact's place is one small integer.
PLACES: tuple[tuple[int, int], ...] = tuple(
    (ci, ri) for ci, c in enumerate(vocab.COUNTRIES) for ri in range(len(c.regions)))
PLACE_OF: dict[tuple[int, int], int] = {p: i for i, p in enumerate(PLACES)}
_SOURCE_CUMULATIVE = list(np.cumsum(vocab.ANALYTICS_SOURCE_WEIGHTS)[:-1])


def arrival_times(rng: np.random.Generator, n: int, start_ms: int, end_ms: int,
                  imported: float = 0.15) -> np.ndarray:
    """Sorted creation times: an initial import on day one, then a growing arrival rate.

    The import is the portal's migration from a previous tool (all within two hours); after it,
    the density grows like t^0.6 towards the anchor.
    """
    u = rng.random(n) ** (1 / 1.6)
    times = start_ms + (u * (end_ms - start_ms)).astype(np.int64)
    first_day = rng.random(n) < imported
    times[first_day] = start_ms + rng.integers(0, 2 * 3_600_000, int(first_day.sum()))
    return np.sort(times)


def postal_code(pattern: str, key: int) -> str:
    """Fill '#' with digits and 'A' with letters drawn from `key` (cheap and deterministic)."""
    key = key * 0x9E3779B97F4A7C15 % 2**64
    out = []
    for ch in pattern:
        if ch == "#":
            key, d = divmod(key, 10)
            out.append(str(d))
        elif ch == "A":
            key, d = divmod(key, 26)
            out.append(chr(65 + d))
        else:
            out.append(ch)
    return "".join(out)


def _unique(candidates: list[str], sep: str = "") -> list[str]:
    """Make strings unique by suffixing a counter to repeats (`acme`, `acme2`, …)."""
    seen: Counter[str] = Counter()
    out = []
    for text in candidates:
        seen[text] += 1
        if seen[text] == 1:
            out.append(text)
            continue
        local, at, domain = text.partition("@")
        out.append(f"{local}{sep}{seen[text]}{at}{domain}")
    return out


# --------------------------------------------------------------------------------- companies
@dataclass
class Companies:
    ids: np.ndarray
    created: np.ndarray
    updated: np.ndarray
    name: list[str]
    domain: list[str]
    industry: np.ndarray
    employees: np.ndarray
    revenue: np.ndarray  # NaN: not filled in
    place: np.ndarray
    city: list[str]
    size_weight: np.ndarray = field(repr=False)  # how many contacts a company attracts

    def __len__(self) -> int:
        return len(self.ids)


def make_companies(rng: np.random.Generator, n: int, start_ms: int, anchor_ms: int
                   ) -> Companies:
    created = arrival_times(rng, n, start_ms, anchor_ms)
    ids = increasing_ids(rng, COMPANY_ID_BASE, n)
    words, suffixes = vocab.COMPANY_WORDS, vocab.COMPANY_SUFFIXES
    w1, w2 = rng.integers(0, len(words), n), rng.integers(0, len(words), n)
    sx = rng.integers(0, len(suffixes), n)
    two = rng.random(n) < 0.35
    names = [f"{words[a]} {words[b]} {suffixes[s]}" if t else f"{words[a]} {suffixes[s]}"
             for a, b, s, t in zip(w1, w2, sx, two, strict=True)]
    place = pick(rng, n, COUNTRY_WEIGHTS)
    place = np.array([PLACE_OF[(c, int(rng.integers(len(vocab.COUNTRIES[c].regions))))]
                      for c in place], dtype=np.int32)
    tlds = [vocab.COUNTRIES[PLACES[p][0]].tld for p in place]
    slugs = [vocab.ascii_slug(f"{words[a]}{words[b] if t else ''}") or "company"
             for a, b, t in zip(w1, w2, two, strict=True)]
    domains = _unique([f"{s}.{tld}"
                       for s, tld in zip(slugs, tlds, strict=True)], sep="-")
    band = pick(rng, n, vocab.EMPLOYEE_BAND_WEIGHTS)
    lo = np.array([b[1] for b in vocab.EMPLOYEE_BANDS])[band]
    hi = np.array([b[2] for b in vocab.EMPLOYEE_BANDS])[band]
    employees = rng.integers(lo, hi + 1)
    revenue = np.round(employees * rng.lognormal(np.log(120_000), 0.6, n), -3)
    revenue[rng.random(n) < 0.3] = np.nan
    updated = created + (rng.random(n) * (anchor_ms - created)).astype(np.int64)
    cities = cities_of(rng, place)
    return Companies(ids, created, updated, names, domains,
                     rng.integers(0, len(vocab.INDUSTRIES), n), employees, revenue, place,
                     cities, size_weight=rng.pareto(1.2, n) + 1)


def cities_of(rng: np.random.Generator, places: np.ndarray) -> list[str]:
    """A city in each place's region."""
    picks = rng.random(len(places))
    out = []
    for place, u in zip(places.tolist(), picks.tolist(), strict=True):
        country, region = PLACES[place]
        cities = vocab.COUNTRIES[country].regions[region][1]
        out.append(cities[int(u * len(cities))])
    return out


def company_props(c: Companies, i: int) -> dict[str, str]:
    country = vocab.COUNTRIES[PLACES[c.place[i]][0]]
    props = {
        "name": c.name[i], "domain": c.domain[i], "industry": vocab.INDUSTRIES[c.industry[i]],
        "numberofemployees": str(int(c.employees[i])), "country": country.name,
        "city": c.city[i], "createdate": iso(int(c.created[i])),
        "hs_lastmodifieddate": iso(int(c.updated[i])), "hs_object_id": str(int(c.ids[i])),
    }
    if not np.isnan(c.revenue[i]):
        props["annualrevenue"] = str(int(c.revenue[i]))
    return props


# ---------------------------------------------------------------------------------- contacts
@dataclass
class Contacts:
    ids: np.ndarray
    created: np.ndarray
    first: list[str]
    last: list[str]
    email: list[str | None]  # as stored, mess included (case, spaces)
    address: list[str | None]  # the normalised address campaigns send to; None: not mailed
    place: np.ndarray
    city: list[str]
    company: np.ndarray  # primary company index, -1 for none
    second_company: np.ndarray  # an extra (unlabelled) company, -1 for none
    stage: np.ndarray  # final lifecycle stage index
    stage_ms: np.ndarray  # (n, 8): when each stage was entered, NEVER if not on the path
    gone: np.ndarray  # archived or merged away at this time, NEVER if live
    archived: np.ndarray  # bool
    merged_into: np.ndarray  # survivor index for merged-away contacts, -1 otherwise
    attrs: np.ndarray  # (n, 8) uniforms that pick optional attributes deterministically

    def __len__(self) -> int:
        return len(self.ids)

    def live(self) -> np.ndarray:
        return self.gone == NEVER


def make_contacts(rng: np.random.Generator, n: int, companies: Companies, start_ms: int,
                  anchor_ms: int) -> Contacts:
    created = arrival_times(rng, n, start_ms, anchor_ms)
    ids = increasing_ids(rng, CONTACT_ID_BASE, n)
    company = np.where(rng.random(n) < 0.85,
                       pick(rng, n, companies.size_weight), -1).astype(np.int64)
    second = np.where((company >= 0) & (rng.random(n) < 0.05),
                      rng.integers(0, len(companies), n), -1)
    second[second == company] = -1
    place = _contact_places(rng, company, companies)
    first, last = names_for(rng, place)
    stage, stage_ms = _lifecycle(rng, created, anchor_ms)
    contacts = Contacts(
        ids=ids, created=created, first=first, last=last, email=[], address=[], place=place,
        city=cities_of(rng, place), company=company, second_company=second,
        stage=stage, stage_ms=stage_ms, gone=np.full(n, NEVER, dtype=np.int64),
        archived=np.zeros(n, dtype=bool), merged_into=np.full(n, -1, dtype=np.int64),
        attrs=rng.random((n, 8)))
    contacts.email = _emails(rng, contacts, companies)
    _add_mess(rng, contacts, anchor_ms)
    return contacts


def _contact_places(rng: np.random.Generator, company: np.ndarray, companies: Companies
                    ) -> np.ndarray:
    """Most people with a company live in its country; the rest follow the country mix."""
    n = len(company)
    own = pick(rng, n, COUNTRY_WEIGHTS)
    region = rng.random(n)
    places = np.empty(n, dtype=np.int32)
    for i in range(n):
        if company[i] >= 0 and region[i] < 0.8:
            places[i] = companies.place[company[i]]
        else:
            c = int(own[i])
            places[i] = PLACE_OF[(c, int(region[i] * 1000) % len(vocab.COUNTRIES[c].regions))]
    return places


def names_for(rng: np.random.Generator, place: np.ndarray) -> tuple[list[str], list[str]]:
    """Names from the person's country language, with a fifth drawn from anywhere."""
    langs = list(vocab.FIRST_NAMES)
    n = len(place)
    anywhere = rng.random(n) < 0.2
    other_lang = rng.integers(0, len(langs), n)
    fi, li = rng.random(n), rng.random(n)
    first, last = [], []
    for i in range(n):
        lang = (langs[other_lang[i]] if anywhere[i]
                else vocab.COUNTRIES[PLACES[place[i]][0]].language)
        firsts, lasts = vocab.FIRST_NAMES[lang], vocab.LAST_NAMES[lang]
        first.append(firsts[int(fi[i] * len(firsts))])
        last.append(lasts[int(li[i] * len(lasts))])
    return first, last


def _lifecycle(rng: np.random.Generator, created: np.ndarray, anchor_ms: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """Final stage per contact and the time each stage on its path was entered.

    A contact enters as subscriber or lead and climbs one step at a time to its final stage,
    each step after an exponential wait (mean STEP_DAYS); paths that would run past the
    anchor are squeezed into the time the contact has had.
    """
    n = len(created)
    stage = pick(rng, n, STAGE_WEIGHTS)
    entry = np.where((stage >= 1) & (stage < LADDER) & (rng.random(n) < 0.45), 1, 0)
    entry[stage == OTHER] = OTHER
    ladder = np.arange(LADDER)
    on_path = (entry[:, None] <= ladder) & (ladder <= stage[:, None]) & (stage < LADDER)[:, None]
    waits = np.where(on_path & (ladder > entry[:, None]),
                     rng.exponential(STEP_DAYS * DAY_MS, (n, LADDER)), 0.0)
    elapsed = np.cumsum(waits, axis=1)
    span = (anchor_ms - created).astype(np.float64)
    total = elapsed[:, -1]
    squeeze = np.where(total > span, span / np.maximum(total, 1) * rng.uniform(0.6, 0.99, n),
                       1.0)
    stage_ms = np.full((n, LADDER + 1), NEVER, dtype=np.int64)
    times = created[:, None] + (elapsed * squeeze[:, None]).astype(np.int64)
    stage_ms[:, :LADDER] = np.where(on_path, times, NEVER)
    stage_ms[stage == OTHER, OTHER] = created[stage == OTHER]
    return stage, stage_ms


def _emails(rng: np.random.Generator, c: Contacts, companies: Companies) -> list[str | None]:
    """firstname.lastname@company-domain for most, a consumer mailbox for the rest."""
    n = len(c.ids)
    style = rng.integers(0, 5, n)
    work = (c.company >= 0) & (rng.random(n) < 0.7)
    provider = rng.random(n)
    raw = []
    for i in range(n):
        if work[i]:
            domain = companies.domain[c.company[i]]
        else:
            domain = consumer_domain(int(c.place[i]), provider[i])
        raw.append(f"{local_part(c.first[i], c.last[i], int(style[i]), i)}@{domain}")
    return list(_unique(raw))


def local_part(first: str, last: str, style: int, salt: int) -> str:
    """One of the ways people spell their address: maria.lopez, mlopez, maria_lopez, …"""
    f, la = vocab.ascii_slug(first) or "user", vocab.ascii_slug(last) or "x"
    return (f"{f}.{la}", f"{f}{la}", f"{f[0]}{la}", f"{f}_{la}", f"{f}.{la}{salt % 97}")[
        style % 5]


def consumer_domain(place: int, u: float) -> str:
    domains = vocab.COUNTRIES[PLACES[place][0]].mail_domains
    return domains[int(u * len(domains))]


def _add_mess(rng: np.random.Generator, c: Contacts, anchor_ms: int) -> None:
    """Archive, merge away, duplicate-by-case and strip emails from a few % of contacts.

    Only contacts low in the funnel (no deals will point at them) are picked, so every deal
    keeps a live contact.
    """
    n = len(c.ids)
    low = np.flatnonzero((c.stage <= 1) | (c.stage == OTHER))
    roles = rng.permutation(low)
    taken = 0
    chosen: dict[str, np.ndarray] = {}
    for role, share in MESS_SHARES.items():
        k = min(round(share * n), max(0, len(roles) - taken))
        chosen[role] = np.sort(roles[taken:taken + k])
        taken += k
    span = rng.random(n)
    for i in chosen["archived"]:
        c.gone[i] = c.created[i] + int(span[i] * (anchor_ms - c.created[i]))
        c.archived[i] = True
    mergeable = np.setdiff1d(np.arange(n), np.concatenate(list(chosen.values())))
    for i in chosen["merged"]:
        s = int(mergeable[int(rng.integers(len(mergeable)))])
        since = max(int(c.created[i]), int(c.created[s]))
        c.gone[i] = since + int(span[i] * (anchor_ms - since))
        c.merged_into[i] = s
    gone = c.gone != NEVER  # nothing happens to a record after it is gone
    sub = c.stage_ms[gone]
    c.stage_ms[gone] = np.where(sub == NEVER, NEVER, np.minimum(sub, c.gone[gone][:, None]))
    c.address = [e.strip().lower() if e else None for e in c.email]
    for i in chosen["duplicate"]:
        earlier = mergeable[:np.searchsorted(mergeable, i)]  # positions follow creation
        if not len(earlier):
            continue
        original = int(earlier[int(rng.integers(len(earlier)))])  # an ordinary, live contact
        c.email[i] = _case_variant(rng, c.email[original] or "")
        c.address[i] = None  # HubSpot sends once per address: the original gets the mail
    for i in chosen["no_email"]:
        c.email[i] = None
        c.address[i] = None


def _case_variant(rng: np.random.Generator, email: str) -> str:
    """The same address typed differently: capitalised, upper-cased or padded with spaces."""
    kind = int(rng.integers(0, 4))
    local, _, domain = email.partition("@")
    if kind == 0:
        return f"{local.title()}@{domain}"
    if kind == 1:
        return email.upper()
    if kind == 2:
        return f" {email}"
    return f"{email} "


def survivors(c: Contacts) -> dict[int, list[int]]:
    """survivor index → indices merged into it."""
    out: dict[int, list[int]] = {}
    for i in np.flatnonzero(c.merged_into >= 0):
        out.setdefault(int(c.merged_into[i]), []).append(int(i))
    return out


def contact_props(c: Contacts, companies: Companies, i: int) -> dict[str, str]:
    """The static part of contact i's properties (email-derived ones are added by emails.py)."""
    country = vocab.COUNTRIES[PLACES[c.place[i]][0]]
    region = country.regions[PLACES[c.place[i]][1]][0]
    a = c.attrs[i]
    stage = int(c.stage[i])
    props: dict[str, str] = {
        "firstname": c.first[i], "lastname": c.last[i],
        "lifecyclestage": LIFECYCLE_STAGES[stage],
        "createdate": iso(int(c.created[i])), "hs_object_id": str(int(c.ids[i])),
        "hs_analytics_source": vocab.ANALYTICS_SOURCES[
            bisect.bisect_right(_SOURCE_CUMULATIVE, a[0] * _SOURCE_CUMULATIVE[-1])],
    }
    email = c.email[i]
    if email is not None:
        props["email"] = email
    if a[1] < 0.85:
        props["country"] = country.name
    if a[1] < 0.7:
        props["state"] = region
        props["city"] = c.city[i]
    if a[2] < 0.7:
        props["zip"] = postal_code(country.zip_format, int(c.ids[i]))
    if a[2] < 0.5:
        props["phone"] = f"{country.phone_prefix} {int(a[3] * 1e9):09d}"
    if a[3] < 0.75:
        props["jobtitle"] = vocab.JOB_TITLES[int(a[4] * len(vocab.JOB_TITLES))]
    company = int(c.company[i])
    if company >= 0:
        props["associatedcompanyid"] = str(int(companies.ids[company]))
        if a[4] < 0.9:
            props["company"] = companies.name[company]
        if a[5] < 0.4:
            emp = int(companies.employees[company])
            props["numemployees"] = next(b[0] for b in vocab.EMPLOYEE_BANDS if emp <= b[2])
    if a[5] < 0.3:
        props["industry"] = vocab.CONTACT_INDUSTRIES[int(a[6] * len(vocab.CONTACT_INDUSTRIES))]
    if 1 <= stage <= SQL and a[6] < 0.6:
        props["hs_lead_status"] = vocab.LEAD_STATUSES[int(a[7] * len(vocab.LEAD_STATUSES))]
    _custom_props(props, c, i, country.language)
    return props


def _custom_props(props: dict[str, str], c: Contacts, i: int, language: str) -> None:
    """interests, preferred_language, customer_tier, nps_score, newsletter_signup_date."""
    a = c.attrs[i]
    bits = int(a[7] * 2**20)
    if a[0] < 0.6:
        chosen = [v for k, v in enumerate(vocab.INTERESTS) if bits >> (k * 2) & 3 == 0]
        if chosen:
            props["interests"] = join_multi(chosen)
    if a[6] < 0.6:
        props["preferred_language"] = language
    stage = int(c.stage[i])
    if stage in (CUSTOMER, CUSTOMER + 1):
        props["customer_tier"] = vocab.CUSTOMER_TIERS[bits % 4]
        if a[3] < 0.7:
            props["nps_score"] = str(min(10, 5 + bits % 7))
    elif a[3] < 0.1:
        props["nps_score"] = str(bits % 11)
    if stage == 0 or a[2] < 0.25:  # a `date` property: HubSpot serves YYYY-MM-DD
        props["newsletter_signup_date"] = iso(int(c.created[i]))[:10]
