"""The portal's metadata: property definitions and groups, deal pipelines, the token.

Definitions follow hubspot-api.md §5: every `Property` carries all required fields, `options` is
`[]` unless the type is an enumeration, and `type`/`fieldType` pairs are the valid ones. The
generator and the tests read `PROPERTY_SPECS` to know which values an enumeration allows.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from sandbox.portal import vocab
from sandbox.store import dumps, iso_ms

SCOPES = (
    "crm.objects.contacts.read crm.objects.contacts.write crm.objects.companies.read "
    "crm.objects.companies.write crm.objects.deals.read crm.objects.deals.write "
    "crm.schemas.contacts.read crm.schemas.contacts.write crm.schemas.companies.read "
    "crm.schemas.companies.write crm.schemas.deals.read crm.schemas.deals.write "
    "content marketing.email.read"
)

VALID_FIELD_TYPES: dict[str, frozenset[str]] = {
    "bool": frozenset({"booleancheckbox", "calculation_equation"}),
    "enumeration": frozenset({"booleancheckbox", "checkbox", "radio", "select",
                              "calculation_equation"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"date"}),
    "string": frozenset({"text", "textarea", "file", "html", "phonenumber",
                         "calculation_equation"}),
    "number": frozenset({"number", "calculation_equation"}),
    "phone_number": frozenset({"phonenumber"}),
}

LIFECYCLE_STAGES: tuple[str, ...] = ("subscriber", "lead", "marketingqualifiedlead",
                                     "salesqualifiedlead", "opportunity", "customer",
                                     "evangelist", "other")
LIFECYCLE_LABELS: dict[str, str] = {
    "subscriber": "Subscriber", "lead": "Lead", "marketingqualifiedlead":
    "Marketing Qualified Lead", "salesqualifiedlead": "Sales Qualified Lead",
    "opportunity": "Opportunity", "customer": "Customer", "evangelist": "Evangelist",
    "other": "Other",
}
BOOL_OPTIONS: tuple[tuple[str, str], ...] = (("true", "Yes"), ("false", "No"))
CUSTOM_GROUP = "hubseg_segments"


@dataclass(frozen=True)
class PropertySpec:
    name: str
    label: str
    type: str
    field_type: str
    group: str
    options: tuple[tuple[str, str], ...] = ()  # (value, label)
    read_only: bool = False  # modificationMetadata.readOnlyValue
    calculated: bool = False
    hubspot_defined: bool = True
    unique: bool = False
    description: str = ""

    @property
    def option_values(self) -> frozenset[str]:
        return frozenset(value for value, _ in self.options)


def _opts(values: Iterable[str], label: object = None) -> tuple[tuple[str, str], ...]:
    """Options whose label is derived from the value (or given by a mapping)."""
    labels = label if isinstance(label, dict) else {}
    return tuple((v, labels.get(v, v.replace("_", " ").title())) for v in values)


def _stamp(name: str, label: str, group: str) -> PropertySpec:
    """A read-only datetime HubSpot maintains itself (create/modify dates, email dates)."""
    return PropertySpec(name, label, "datetime", "date", group, read_only=True)


def _counter(name: str, label: str) -> PropertySpec:
    return PropertySpec(name, label, "number", "number", "emailinformation", read_only=True,
                        calculated=True)


def _text(name: str, label: str, group: str, **kw: object) -> PropertySpec:
    return PropertySpec(name, label, "string", "text", group, **kw)  # type: ignore[arg-type]


def _merged_ids(singular: str, group: str) -> PropertySpec:
    """`hs_merged_object_ids`: the ids merged into a record (POST …/merge), `;`-joined."""
    return PropertySpec("hs_merged_object_ids", f"Merged {singular} IDs", "enumeration",
                        "checkbox", group, read_only=True, calculated=True,
                        description=f"The list of {singular} record IDs that have been merged "
                                    f"into this {singular}")


def _custom(spec: PropertySpec) -> PropertySpec:
    return replace(spec, hubspot_defined=False)


CONTACT_PROPERTIES: tuple[PropertySpec, ...] = (
    _text("email", "Email", "contactinformation", unique=False,
          description="A contact's email address"),
    _text("firstname", "First Name", "contactinformation"),
    _text("lastname", "Last Name", "contactinformation"),
    PropertySpec("phone", "Phone Number", "string", "phonenumber", "contactinformation"),
    _text("company", "Company Name", "contactinformation"),
    _text("jobtitle", "Job Title", "contactinformation"),
    _text("city", "City", "contactinformation"),
    _text("state", "State/Region", "contactinformation"),
    _text("country", "Country/Region", "contactinformation"),
    _text("zip", "Postal Code", "contactinformation"),
    _text("industry", "Industry", "contactinformation"),
    PropertySpec("numemployees", "Number of Employees", "enumeration", "select",
                 "contactinformation", options=_opts(b[0] for b in vocab.EMPLOYEE_BANDS)),
    PropertySpec("lifecyclestage", "Lifecycle Stage", "enumeration", "radio",
                 "contactinformation", options=_opts(LIFECYCLE_STAGES, LIFECYCLE_LABELS)),
    PropertySpec("hs_lead_status", "Lead Status", "enumeration", "radio", "contactinformation",
                 options=_opts(vocab.LEAD_STATUSES)),
    PropertySpec("hs_analytics_source", "Original Source", "enumeration", "select",
                 "analyticsinformation", options=_opts(vocab.ANALYTICS_SOURCES),
                 read_only=True, calculated=True),
    PropertySpec("hs_email_optout", "Unsubscribed from all email", "bool", "booleancheckbox",
                 "emailinformation", options=BOOL_OPTIONS, read_only=True),
    _counter("hs_email_bounce", "Marketing emails bounced"),
    _counter("hs_email_delivered", "Marketing emails delivered"),
    _counter("hs_email_open", "Marketing emails opened"),
    _counter("hs_email_click", "Marketing emails clicked"),
    PropertySpec("hs_email_hard_bounce_reason_enum", "Email hard bounce reason", "enumeration",
                 "select", "emailinformation",
                 options=_opts((*vocab.HARD_BOUNCE_CATEGORIES, "OTHER")), read_only=True,
                 calculated=True),
    _stamp("hs_email_last_send_date", "Last marketing email send date", "emailinformation"),
    _stamp("hs_email_last_open_date", "Last marketing email open date", "emailinformation"),
    _stamp("hs_email_last_click_date", "Last marketing email click date", "emailinformation"),
    _merged_ids("Contact", "contactinformation"),
    _stamp("createdate", "Create Date", "contactinformation"),
    _stamp("lastmodifieddate", "Last Modified Date", "contactinformation"),
    PropertySpec("hs_object_id", "Record ID", "number", "number", "contactinformation",
                 read_only=True, unique=True),
    PropertySpec("associatedcompanyid", "Primary Associated Company ID", "number", "number",
                 "contactinformation", read_only=True),
    _custom(PropertySpec("interests", "Interests", "enumeration", "checkbox", CUSTOM_GROUP,
                         options=_opts(vocab.INTERESTS, {"ai": "AI", "hr": "HR"}))),
    _custom(PropertySpec("preferred_language", "Preferred language", "enumeration", "select",
                         CUSTOM_GROUP, options=_opts(vocab.LANGUAGE_NAMES,
                                                     vocab.LANGUAGE_NAMES))),
    _custom(PropertySpec("customer_tier", "Customer tier", "enumeration", "radio",
                         CUSTOM_GROUP, options=_opts(vocab.CUSTOMER_TIERS))),
    _custom(PropertySpec("nps_score", "NPS score", "number", "number", CUSTOM_GROUP)),
    _custom(PropertySpec("newsletter_signup_date", "Newsletter signup date", "date", "date",
                         CUSTOM_GROUP)),
)

COMPANY_PROPERTIES: tuple[PropertySpec, ...] = (
    _text("name", "Company name", "companyinformation"),
    _text("domain", "Company Domain Name", "companyinformation", unique=False),
    PropertySpec("industry", "Industry", "enumeration", "select", "companyinformation",
                 options=tuple((v, vocab.industry_label(v)) for v in vocab.INDUSTRIES)),
    PropertySpec("numberofemployees", "Number of Employees", "number", "number",
                 "companyinformation"),
    PropertySpec("annualrevenue", "Annual Revenue", "number", "number", "companyinformation"),
    _text("country", "Country/Region", "companyinformation"),
    _text("city", "City", "companyinformation"),
    _stamp("createdate", "Create Date", "companyinformation"),
    _stamp("hs_lastmodifieddate", "Last Modified Date", "companyinformation"),
    PropertySpec("hs_object_id", "Record ID", "number", "number", "companyinformation",
                 read_only=True, unique=True),
    _merged_ids("Company", "companyinformation"),
)


@dataclass(frozen=True)
class Stage:
    id: str
    label: str
    probability: str
    closed: bool = False


@dataclass(frozen=True)
class Pipeline:
    id: str
    label: str
    stages: tuple[Stage, ...]
    won: str  # the stage id that means "closed won"
    lost: str

    @property
    def open_stages(self) -> tuple[Stage, ...]:
        return tuple(s for s in self.stages if not s.closed)


PIPELINES: tuple[Pipeline, ...] = (
    Pipeline("default", "Sales Pipeline", (
        Stage("appointmentscheduled", "Appointment Scheduled", "0.2"),
        Stage("qualifiedtobuy", "Qualified To Buy", "0.4"),
        Stage("presentationscheduled", "Presentation Scheduled", "0.6"),
        Stage("decisionmakerboughtin", "Decision Maker Bought-In", "0.8"),
        Stage("contractsent", "Contract Sent", "0.9"),
        Stage("closedwon", "Closed Won", "1.0", closed=True),
        Stage("closedlost", "Closed Lost", "0.0", closed=True),
    ), won="closedwon", lost="closedlost"),
    Pipeline("75e28846", "Renewals", (
        Stage("130845758", "Renewal due", "0.5"),
        Stage("130845759", "Negotiation", "0.75"),
        Stage("130845760", "Renewed", "1.0", closed=True),
        Stage("130845761", "Churned", "0.0", closed=True),
    ), won="130845760", lost="130845761"),
)
STAGES: dict[str, tuple[Pipeline, Stage]] = {
    s.id: (p, s) for p in PIPELINES for s in p.stages
}

DEAL_PROPERTIES: tuple[PropertySpec, ...] = (
    _text("dealname", "Deal Name", "dealinformation"),
    PropertySpec("amount", "Amount", "number", "number", "dealinformation"),
    PropertySpec("closedate", "Close Date", "datetime", "date", "dealinformation"),
    _stamp("createdate", "Create Date", "dealinformation"),
    PropertySpec("dealstage", "Deal Stage", "enumeration", "radio", "dealinformation",
                 options=tuple((s.id, s.label) for p in PIPELINES for s in p.stages)),
    PropertySpec("pipeline", "Pipeline", "enumeration", "select", "dealinformation",
                 options=tuple((p.id, p.label) for p in PIPELINES)),
    PropertySpec("dealtype", "Deal Type", "enumeration", "radio", "dealinformation",
                 options=(("newbusiness", "New Business"),
                          ("existingbusiness", "Existing Business"))),
    PropertySpec("hs_is_closed", "Is Deal Closed?", "bool", "booleancheckbox",
                 "dealinformation", options=BOOL_OPTIONS, read_only=True, calculated=True),
    PropertySpec("hs_is_closed_won", "Is Closed Won", "bool", "booleancheckbox",
                 "dealinformation", options=BOOL_OPTIONS, read_only=True, calculated=True),
    PropertySpec("hs_deal_stage_probability", "Deal Stage Probability", "number", "number",
                 "dealinformation", read_only=True, calculated=True),
    _stamp("hs_lastmodifieddate", "Last Modified Date", "dealinformation"),
    PropertySpec("hs_object_id", "Record ID", "number", "number", "dealinformation",
                 read_only=True, unique=True),
    _merged_ids("Deal", "dealinformation"),
)

GROUPS: dict[str, tuple[tuple[str, str], ...]] = {
    "contacts": (("contactinformation", "Contact information"),
                 ("emailinformation", "Email information"),
                 ("analyticsinformation", "Web analytics history"),
                 (CUSTOM_GROUP, "Segments (hubseg)")),
    "companies": (("companyinformation", "Company information"),),
    "deals": (("dealinformation", "Deal information"),),
}


def custom_property_specs(count: int) -> tuple[PropertySpec, ...]:
    """`custom_prop_0001…`: a rotating mix of string, number and enumeration properties."""
    specs = []
    for i in range(1, count + 1):
        name, label = f"custom_prop_{i:04d}", f"Custom property {i}"
        kind = i % 3
        if kind == 0:
            spec = _text(name, label, CUSTOM_GROUP, hubspot_defined=False)
        elif kind == 1:
            spec = PropertySpec(name, label, "number", "number", CUSTOM_GROUP,
                                hubspot_defined=False)
        else:
            spec = PropertySpec(name, label, "enumeration", "select", CUSTOM_GROUP,
                                options=_opts(("alpha", "beta", "gamma", "delta")),
                                hubspot_defined=False)
        specs.append(spec)
    return tuple(specs)


def property_specs(object_type: str, custom_properties: int = 0) -> tuple[PropertySpec, ...]:
    if object_type == "contacts":
        return CONTACT_PROPERTIES + custom_property_specs(custom_properties)
    return {"companies": COMPANY_PROPERTIES, "deals": DEAL_PROPERTIES}[object_type]


def property_definition(spec: PropertySpec, order: int, created_ms: int) -> dict:
    """HubSpot's `Property` JSON for one spec (all required fields present)."""
    assert spec.field_type in VALID_FIELD_TYPES[spec.type], spec
    options = [{"label": label, "value": value, "displayOrder": i, "hidden": False}
               for i, (value, label) in enumerate(spec.options)]
    return {
        "name": spec.name, "label": spec.label, "type": spec.type,
        "fieldType": spec.field_type, "groupName": spec.group,
        "description": spec.description, "options": options,
        "displayOrder": order if not spec.hubspot_defined else -1,
        "calculated": spec.calculated, "externalOptions": False,
        "hasUniqueValue": spec.unique, "hidden": False,
        "hubspotDefined": spec.hubspot_defined,
        "modificationMetadata": {"archivable": not spec.hubspot_defined,
                                 "readOnlyDefinition": spec.hubspot_defined,
                                 "readOnlyValue": spec.read_only},
        "formField": not spec.read_only and spec.type != "datetime",
        "createdAt": iso_ms(created_ms), "updatedAt": iso_ms(created_ms), "archived": False,
    }


def _property_row(object_type: str, order: int, spec: PropertySpec, created_ms: int
                  ) -> tuple[str, str, str, int]:
    return (object_type, spec.name, dumps(property_definition(spec, order, created_ms)), 0)


def property_rows(created_ms: int, custom_created_ms: int, custom_properties: int
                  ) -> list[tuple[str, str, str, int]]:
    """Rows for the `properties` table; custom ones were created later than the built-ins."""
    return [_property_row(object_type, order, spec,
                          created_ms if spec.hubspot_defined else custom_created_ms)
            for object_type in ("contacts", "companies", "deals")
            for order, spec in enumerate(property_specs(object_type, custom_properties))]


def builtin_property_rows(created_ms: int) -> list[tuple[str, str, str, int]]:
    """Rows of every HubSpot-defined property: a server adds those missing from a portal
    generated before the property was (`hs_merged_object_ids` of companies and deals)."""
    return [_property_row(object_type, order, spec, created_ms)
            for object_type in ("contacts", "companies", "deals")
            for order, spec in enumerate(property_specs(object_type)) if spec.hubspot_defined]


def group_rows() -> list[tuple[str, str, str, int]]:
    return [(object_type, name, dumps({"name": name, "label": label, "displayOrder": i,
                                       "archived": False}), 0)
            for object_type, groups in GROUPS.items() for i, (name, label) in enumerate(groups)]


def pipeline_definition(pipeline: Pipeline, order: int, created_ms: int) -> dict:
    stamp = iso_ms(created_ms)
    stages = [{"id": s.id, "label": s.label, "displayOrder": i,
               "metadata": {"isClosed": "true" if s.closed else "false",
                            "probability": s.probability},
               "createdAt": stamp, "updatedAt": stamp, "archived": False,
               "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT"}
              for i, s in enumerate(pipeline.stages)]
    return {"id": pipeline.id, "label": pipeline.label, "displayOrder": order,
            "stages": stages, "createdAt": stamp, "updatedAt": stamp, "archived": False}


def pipeline_rows(created_ms: int) -> list[tuple[str, str, str]]:
    return [("deals", p.id, dumps(pipeline_definition(p, i, created_ms)))
            for i, p in enumerate(PIPELINES)]


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("/".join(map(str, parts)).encode()).digest()


def portal_id_for(seed: int) -> int:
    """A 7–9 digit portal id, stable per seed."""
    return 1_000_000 + int.from_bytes(_digest("portal", seed)[:8], "big") % 899_000_000


def token_for(seed: int) -> str:
    return f"pat-na1-{uuid.UUID(bytes=_digest('token', seed)[:16], version=4)}"


def enumeration_options(object_type: str, custom_properties: int = 0
                        ) -> dict[str, tuple[frozenset[str], bool]]:
    """name → (allowed values, multi-valued) for every enumeration property of a type."""
    return {s.name: (s.option_values, s.field_type == "checkbox")
            for s in property_specs(object_type, custom_properties)
            if s.type in ("enumeration", "bool") and s.options}


def join_multi(values: Sequence[str]) -> str:
    """Multi-checkbox values as HubSpot stores them: `;`-joined."""
    return ";".join(values)
