"""Word lists the generator draws from: people, places, companies, jobs, topics, email clients.

Names include diacritics and a share of CJK names because real portals have them and they break
naive pipelines (encoding, email slugs, sorting). Everything here is plain data.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    weight: float
    language: str
    phone_prefix: str
    zip_format: str  # '#' = digit, 'A' = capital letter
    regions: tuple[tuple[str, tuple[str, ...]], ...]  # (state/region, cities)
    mail_domains: tuple[str, ...]  # consumer mailbox providers used there

    @property
    def tld(self) -> str:
        """The top-level domain local companies use."""
        return _TLDS.get(self.code, self.code.lower())


_TLDS = {"US": "com", "IN": "com", "GB": "co.uk", "AU": "com.au", "BR": "com.br", "JP": "co.jp"}


COUNTRIES: tuple[Country, ...] = (
    Country("US", "United States", 0.38, "en", "+1", "#####", (
        ("California", ("San Francisco", "Los Angeles", "San Diego", "San Jose")),
        ("New York", ("New York", "Brooklyn", "Buffalo")),
        ("Texas", ("Austin", "Dallas", "Houston")),
        ("Massachusetts", ("Boston", "Cambridge")),
        ("Washington", ("Seattle", "Bellevue")),
        ("Illinois", ("Chicago",)),
        ("Georgia", ("Atlanta",)),
        ("Colorado", ("Denver", "Boulder")),
    ), ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "aol.com")),
    Country("GB", "United Kingdom", 0.11, "en", "+44", "AA# #AA", (
        ("England", ("London", "Manchester", "Bristol", "Leeds")),
        ("Scotland", ("Edinburgh", "Glasgow")),
        ("Wales", ("Cardiff",)),
    ), ("gmail.com", "outlook.com", "btinternet.com", "yahoo.co.uk")),
    Country("DE", "Germany", 0.09, "de", "+49", "#####", (
        ("Berlin", ("Berlin",)),
        ("Bayern", ("München", "Nürnberg")),
        ("Hamburg", ("Hamburg",)),
        ("Nordrhein-Westfalen", ("Köln", "Düsseldorf")),
    ), ("gmail.com", "gmx.de", "web.de", "t-online.de")),
    Country("FR", "France", 0.07, "fr", "+33", "#####", (
        ("Île-de-France", ("Paris", "Boulogne-Billancourt")),
        ("Auvergne-Rhône-Alpes", ("Lyon", "Grenoble")),
        ("Provence-Alpes-Côte d'Azur", ("Marseille", "Nice")),
    ), ("gmail.com", "orange.fr", "free.fr", "laposte.net")),
    Country("CA", "Canada", 0.06, "en", "+1", "A#A #A#", (
        ("Ontario", ("Toronto", "Ottawa")),
        ("Québec", ("Montréal", "Québec")),
        ("British Columbia", ("Vancouver", "Victoria")),
    ), ("gmail.com", "outlook.com", "yahoo.ca")),
    Country("AU", "Australia", 0.05, "en", "+61", "####", (
        ("New South Wales", ("Sydney",)),
        ("Victoria", ("Melbourne",)),
        ("Queensland", ("Brisbane",)),
    ), ("gmail.com", "outlook.com", "bigpond.com")),
    Country("NL", "Netherlands", 0.04, "nl", "+31", "#### AA", (
        ("Noord-Holland", ("Amsterdam", "Haarlem")),
        ("Zuid-Holland", ("Rotterdam", "Den Haag")),
        ("Utrecht", ("Utrecht",)),
    ), ("gmail.com", "ziggo.nl", "kpnmail.nl")),
    Country("ES", "Spain", 0.04, "es", "+34", "#####", (
        ("Madrid", ("Madrid",)),
        ("Cataluña", ("Barcelona", "Girona")),
        ("Andalucía", ("Sevilla", "Málaga")),
    ), ("gmail.com", "hotmail.es", "yahoo.es")),
    Country("IN", "India", 0.06, "en", "+91", "######", (
        ("Karnataka", ("Bengaluru", "Mysuru")),
        ("Maharashtra", ("Mumbai", "Pune")),
        ("Delhi", ("New Delhi",)),
        ("Telangana", ("Hyderabad",)),
    ), ("gmail.com", "yahoo.co.in", "rediffmail.com")),
    Country("BR", "Brazil", 0.04, "pt", "+55", "#####-###", (
        ("São Paulo", ("São Paulo", "Campinas")),
        ("Rio de Janeiro", ("Rio de Janeiro",)),
        ("Minas Gerais", ("Belo Horizonte",)),
    ), ("gmail.com", "hotmail.com", "uol.com.br")),
    Country("JP", "Japan", 0.03, "ja", "+81", "###-####", (
        ("Tokyo", ("Tokyo", "Shibuya")),
        ("Osaka", ("Osaka",)),
        ("Kanagawa", ("Yokohama",)),
    ), ("gmail.com", "yahoo.co.jp", "docomo.ne.jp")),
    Country("SE", "Sweden", 0.015, "sv", "+46", "### ##", (
        ("Stockholm", ("Stockholm",)),
        ("Västra Götaland", ("Göteborg",)),
    ), ("gmail.com", "telia.com")),
    Country("DK", "Denmark", 0.01, "da", "+45", "####", (
        ("Hovedstaden", ("København",)),
        ("Midtjylland", ("Aarhus",)),
    ), ("gmail.com", "hotmail.dk")),
    Country("PL", "Poland", 0.01, "pl", "+48", "##-###", (
        ("Mazowieckie", ("Warszawa",)),
        ("Małopolskie", ("Kraków",)),
    ), ("gmail.com", "wp.pl", "onet.pl")),
    Country("CN", "China", 0.01, "zh", "+86", "######", (
        ("Beijing", ("Beijing",)),
        ("Shanghai", ("Shanghai",)),
        ("Guangdong", ("Shenzhen", "Guangzhou")),
    ), ("qq.com", "163.com", "gmail.com")),
)

# First and last names per language; `GENERIC` is mixed into every country (people move).
FIRST_NAMES: dict[str, tuple[str, ...]] = {
    "en": ("James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda",
           "David", "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica",
           "Thomas", "Sarah", "Charles", "Karen", "Emily", "Daniel", "Olivia", "Matthew",
           "Sophie", "Andrew", "Chloe", "Joshua", "Grace", "Ryan", "Hannah", "Priya", "Arjun",
           "Aisha", "Liam", "Noah", "Emma", "Ava", "Mia", "Zoe"),
    "de": ("Lukas", "Anna", "Jürgen", "Jörg", "Sören", "Katrin", "Matthias", "Julia", "Felix",
           "Lena", "Maximilian", "Leonie", "Günther", "Bärbel", "Stefan", "Sabine"),
    "fr": ("José", "Amélie", "François", "Hélène", "Léa", "Chloé", "Jérôme", "Benoît",
           "Céline", "Noémie", "Théo", "Gaël", "Inès", "Raphaël"),
    "es": ("José", "María", "Lucía", "Álvaro", "Sofía", "Martín", "Begoña", "Íñigo",
           "Alejandro", "Carmen", "Pablo", "Raúl"),
    "pt": ("João", "Gonçalo", "Luísa", "Conceição", "Thiago", "Beatriz", "Caio", "Letícia"),
    "nl": ("Daan", "Sanne", "Bram", "Femke", "Joëlle", "Thijs", "Lotte", "Sem"),
    "sv": ("Björn", "Åsa", "Linnéa", "Måns", "Erik", "Ingrid"),
    "da": ("Søren", "Mette", "Jørgen", "Freja", "Rasmus", "Ida"),
    "pl": ("Łukasz", "Małgorzata", "Paweł", "Zofia", "Wojciech", "Agnieszka"),
    "ja": ("Haruto", "Yui", "Sota", "Aoi", "Ren", "Hina", "Yuto", "Sakura"),
    "zh": ("伟", "芳", "娜", "秀英", "敏", "静", "磊", "洋"),
}
LAST_NAMES: dict[str, tuple[str, ...]] = {
    "en": ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
           "Rodriguez", "Martinez", "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Jackson",
           "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis", "Walker", "Patel",
           "Singh", "Nguyen", "O'Brien", "McDonald", "Evans", "Hughes", "Kelly", "Sharma"),
    "de": ("Müller", "Schmidt", "Schneider", "Fischer", "Weiß", "Größer", "Köhler", "Wagner",
           "Becker", "Hoffmann", "Schäfer", "Krüger"),
    "fr": ("Martin", "Bernard", "Dubois", "Lefèvre", "Girard", "Fontaine", "Mercier",
           "Lemaître", "Roux", "Besançon"),
    "es": ("García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez",
           "Pérez", "Muñoz", "Jiménez"),
    "pt": ("Silva", "Santos", "Oliveira", "Souza", "Conceição", "Araújo", "Gonçalves"),
    "nl": ("de Jong", "Jansen", "de Vries", "van den Berg", "Bakker", "Visser", "van Dijk"),
    "sv": ("Andersson", "Johansson", "Karlsson", "Nilsson", "Åberg", "Lindström"),
    "da": ("Jensen", "Nielsen", "Hansen", "Sørensen", "Møller", "Kjær"),
    "pl": ("Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kowalczyk", "Zieliński"),
    "ja": ("Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto"),
    "zh": ("王", "李", "张", "刘", "陈", "杨", "黄", "赵"),
}
# Romanisations for names that have no ASCII form after stripping accents (email slugs).
ROMANISED: dict[str, str] = {
    "伟": "wei", "芳": "fang", "娜": "na", "秀英": "xiuying", "敏": "min", "静": "jing",
    "磊": "lei", "洋": "yang", "王": "wang", "李": "li", "张": "zhang", "刘": "liu",
    "陈": "chen", "杨": "yang", "黄": "huang", "赵": "zhao",
}
_TRANSLIT = str.maketrans({"ø": "o", "Ø": "O", "ß": "ss", "ł": "l", "Ł": "L", "æ": "ae",
                           "Æ": "AE", "'": "", " ": ""})


@lru_cache(maxsize=65536)
def ascii_slug(name: str) -> str:
    """Lower-case ASCII form of a name for email local parts (`Søren` → `soren`)."""
    if name in ROMANISED:
        return ROMANISED[name]
    decomposed = unicodedata.normalize("NFKD", name.translate(_TRANSLIT))
    return "".join(c for c in decomposed if c.isascii() and c.isalnum()).lower()


LANGUAGE_NAMES: dict[str, str] = {
    "en": "English", "de": "German", "fr": "French", "es": "Spanish", "pt": "Portuguese",
    "nl": "Dutch", "sv": "Swedish", "da": "Danish", "pl": "Polish", "ja": "Japanese",
    "zh": "Chinese",
}

# HubSpot's company `industry` enumeration values (a representative subset).
INDUSTRIES: tuple[str, ...] = (
    "COMPUTER_SOFTWARE", "INFORMATION_TECHNOLOGY_AND_SERVICES", "INTERNET",
    "MARKETING_AND_ADVERTISING",
    "FINANCIAL_SERVICES", "BANKING", "INSURANCE", "HOSPITAL_HEALTH_CARE", "MEDICAL_DEVICES",
    "PHARMACEUTICALS", "RETAIL", "CONSUMER_GOODS", "E_LEARNING", "HIGHER_EDUCATION",
    "MANAGEMENT_CONSULTING", "REAL_ESTATE", "CONSTRUCTION", "LOGISTICS_AND_SUPPLY_CHAIN",
    "AUTOMOTIVE", "TELECOMMUNICATIONS", "NONPROFIT_ORGANIZATION_MANAGEMENT", "HOSPITALITY",
    "FOOD_BEVERAGES", "MECHANICAL_OR_INDUSTRIAL_ENGINEERING", "RENEWABLES_ENVIRONMENT",
)


def industry_label(value: str) -> str:
    return value.replace("_AND_", " & ").replace("_", " ").title().replace("E Learning",
                                                                           "E-Learning")


# Contact `industry` is a free-text built-in in HubSpot: people type what they like.
CONTACT_INDUSTRIES: tuple[str, ...] = (
    "Software", "IT Services", "Marketing", "Finance", "Healthcare", "Retail", "Education",
    "Consulting", "Manufacturing", "Real Estate", "Logistics", "Non-profit", "Telecom",
    "Hospitality", "software", "Tech",
)

EMPLOYEE_BANDS: tuple[tuple[str, int, int], ...] = (
    ("1-5", 1, 5), ("5-25", 5, 25), ("25-50", 25, 50), ("50-100", 50, 100),
    ("100-500", 100, 500), ("500-1000", 500, 1000), ("1000+", 1000, 25000),
)
EMPLOYEE_BAND_WEIGHTS: tuple[float, ...] = (0.12, 0.25, 0.18, 0.15, 0.18, 0.06, 0.06)

COMPANY_WORDS: tuple[str, ...] = (
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Nimbus", "Vertex", "Quantum",
    "Blue Harbor", "Redwood", "Northwind", "Bluebird", "Pinnacle", "Summit", "Helix", "Orbit",
    "Lumen", "Atlas", "Beacon", "Cobalt", "Evergreen", "Falcon", "Granite", "Horizon",
    "Ironclad", "Juniper", "Keystone", "Lighthouse", "Meridian", "Nova", "Oakridge", "Polaris",
    "Quartz", "Riverbend", "Sequoia", "Tandem", "Upland", "Vantage", "Willow", "Zenith",
    "Brücke", "Škoda Partners", "Løvholm", "Société Générale des Données", "Café Sol",
    "北辰", "São Miguel", "Ångström",
)
COMPANY_SUFFIXES: tuple[str, ...] = (
    "Inc.", "LLC", "Ltd", "GmbH", "SAS", "B.V.", "S.L.", "Pty Ltd", "Group", "Labs",
    "Technologies", "Solutions", "Systems", "Analytics", "Health", "Logistics", "Partners",
)

JOB_TITLES: tuple[str, ...] = (
    "Marketing Manager", "Head of Marketing", "CMO", "Marketing Operations Manager",
    "Growth Marketer", "Demand Generation Manager", "Content Strategist", "SEO Specialist",
    "Sales Manager", "Account Executive", "SDR", "VP Sales", "Head of Sales", "CEO", "CTO",
    "COO", "Founder", "Co-Founder", "Data Analyst", "Data Engineer", "Analytics Engineer",
    "Software Engineer", "Product Manager", "Head of Product", "Customer Success Manager",
    "Operations Manager", "HR Manager", "Finance Director", "Controller", "Consultant",
    "Student", "Intern", "Director of IT", "IT Manager", "Designer", "Office Manager",
)

INTERESTS: tuple[str, ...] = (
    "analytics", "automation", "ecommerce", "security", "cloud", "ai", "design", "finance",
    "hr", "marketing",
)
CUSTOMER_TIERS: tuple[str, ...] = ("bronze", "silver", "gold", "platinum")

LEAD_STATUSES: tuple[str, ...] = (
    "NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT",
    "CONNECTED", "BAD_TIMING",
)
ANALYTICS_SOURCES: tuple[str, ...] = (
    "ORGANIC_SEARCH", "PAID_SEARCH", "EMAIL_MARKETING", "SOCIAL_MEDIA", "REFERRALS",
    "OTHER_CAMPAIGNS", "DIRECT_TRAFFIC", "OFFLINE", "PAID_SOCIAL",
)
ANALYTICS_SOURCE_WEIGHTS: tuple[float, ...] = (0.26, 0.1, 0.08, 0.08, 0.1, 0.05, 0.13, 0.15,
                                               0.05)

# Email content: campaign kinds, subjects per topic, and the pages their links point to.
CAMPAIGN_KINDS: tuple[str, ...] = ("Newsletter", "Product update", "Webinar invite",
                                   "Case study", "Event", "Promotion", "Guide")
TOPIC_SUBJECTS: dict[str, tuple[str, ...]] = {
    "analytics": ("Dashboards your team will actually use", "5 metrics that predict churn"),
    "automation": ("Automate the boring parts of your week", "Workflows that scale"),
    "ecommerce": ("Holiday checkout playbook", "Cart recovery in three emails"),
    "security": ("What changed in SOC 2 this year", "Passwordless, explained"),
    "cloud": ("Cut your cloud bill by a third", "Multi-region without the pain"),
    "ai": ("AI assistants for support teams", "Prompting for analysts"),
    "design": ("Design systems that last", "Accessible colour palettes"),
    "finance": ("Close the books in five days", "Forecasting for startups"),
    "hr": ("Onboarding that sticks", "Remote team rituals"),
    "marketing": ("Segments that convert", "Your 2026 content calendar"),
}
LINK_SLUGS: tuple[str, ...] = (
    "getting-started", "best-practices", "customer-story", "webinar-registration",
    "pricing", "product-tour", "whitepaper", "checklist", "release-notes", "roadmap",
)

SENDER_NAMES: tuple[str, ...] = ("Example Marketing", "The Example Team", "Example Newsletter")

# Opens and clicks: the email clients people use, as HubSpot's `browser` object.
USER_AGENTS: tuple[tuple[str, str, str, str], ...] = (
    # (userAgent, browser name, family, deviceType)
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0 Safari/537.36", "Chrome", "Chrome", "COMPUTER"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
     "Apple Mail", "Apple Mail", "COMPUTER"),
    ("Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)",
     "Outlook 2016", "Outlook", "COMPUTER"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Mobile/15E148", "Mobile Safari", "Safari", "MOBILE"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0 Mobile Safari/537.36", "Chrome Mobile", "Chrome", "MOBILE"),
    ("Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)",
     "Mobile Safari", "Safari", "TABLET"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
     "Firefox", "Firefox", "COMPUTER"),
)
USER_AGENT_WEIGHTS: tuple[float, ...] = (0.24, 0.16, 0.16, 0.24, 0.12, 0.04, 0.04)
# Machine opens (image proxies, security scanners): HubSpot marks them `filteredEvent: true`.
BOT_USER_AGENT: tuple[str, str, str, str] = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
    "Google Image Proxy", "Other", "UNKNOWN")

# Delivery outcomes.
HARD_BOUNCE_CATEGORIES: tuple[str, ...] = ("UNKNOWN_USER", "MAILBOX_MISCONFIGURATION",
                                           "DNS_FAILURE", "POLICY")
SOFT_BOUNCE_CATEGORIES: tuple[str, ...] = ("MAILBOX_FULL", "GREYLISTING", "TIMEOUT",
                                           "THROTTLED", "TEMPORARY_PROBLEM", "CONTENT", "SPAM")
BOUNCE_RESPONSES: dict[str, tuple[str, str]] = {  # category → (SMTP status, response text)
    "UNKNOWN_USER": ("550", "550 5.1.1 The email account that you tried to reach does not exist."),
    "MAILBOX_MISCONFIGURATION": ("550", "550 5.4.1 Recipient address rejected: Access denied"),
    "DNS_FAILURE": ("512", "512 5.1.2 Host unknown: domain name not found"),
    "POLICY": ("554", "554 5.7.1 Message rejected due to local policy"),
    "MAILBOX_FULL": ("452", "452 4.2.2 The email account that you tried to reach is over quota."),
    "GREYLISTING": ("451", "451 4.7.1 Greylisted, please try again later"),
    "TIMEOUT": ("421", "421 4.4.2 Connection timed out"),
    "THROTTLED": ("421", "421 4.7.0 Try again later, closing connection. (THROTTLED)"),
    "TEMPORARY_PROBLEM": ("451", "451 4.3.0 Temporary server error. Please try again later"),
    "CONTENT": ("552", "552 5.7.0 This message was blocked because its content presents a "
                       "potential security issue."),
    "SPAM": ("550", "550 5.7.1 Message rejected as spam by Content Filtering."),
}
DEFERRED_RESPONSES: tuple[str, ...] = (
    "421 4.7.0 Temporary System Problem. Try again later",
    "451 4.7.1 Greylisting in action, please come back later",
    "452 4.2.2 Mailbox full, try again later",
)
DROP_MESSAGES: dict[str, str] = {
    "PREVIOUSLY_BOUNCED": "The recipient has previously bounced.",
    "PREVIOUSLY_UNSUBSCRIBED_PORTAL": "The recipient has unsubscribed from all email.",
    "PREVIOUS_SPAM": "The recipient has previously marked an email as spam.",
    "INVALID_TO_ADDRESS": "The recipient address is invalid.",
    "BLOCKED_DOMAIN": "The recipient's domain is blocked.",
    "QUARANTINED_ADDRESS": "The recipient address is quarantined.",
}
UNSUBSCRIBE_SOURCES: tuple[str, ...] = ("SOURCE_RECIPIENT", "SOURCE_HUBSPOT_CUSTOMER",
                                        "SOURCE_NONRESPONSIVE")
SUBSCRIPTION_IDS: tuple[int, ...] = (4_681_122, 4_681_123)  # "Marketing", "Newsletter"

# Recipients on imported lists who are no contact of this portal (deleted, never synced).
STRAY_LOCAL_PARTS: tuple[str, ...] = ("info", "sales", "contact", "office", "team", "hello",
                                      "admin", "marketing", "noreply", "jobs")
