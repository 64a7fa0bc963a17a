"""Constants of the HubSpot source: resources, tables, column hints, HubSpot's own names."""

from __future__ import annotations

from typing import Any

CRM_OBJECTS: tuple[str, ...] = ("contacts", "companies", "deals")
EMAIL_RESOURCES: tuple[str, ...] = ("email_events", "email_campaigns")
METADATA_RESOURCES: tuple[str, ...] = ("properties", "deal_pipelines")
RESOURCES: tuple[str, ...] = (*CRM_OBJECTS, *EMAIL_RESOURCES, *METADATA_RESOURCES)

# The property whose value moves whenever a record changes (hubspot-api.md §3.1).
LAST_MODIFIED: dict[str, str] = {
    "contacts": "lastmodifieddate",
    "companies": "hs_lastmodifieddate",
    "deals": "hs_lastmodifieddate",
}
OBJECT_ID_PROPERTY = "hs_object_id"

# Raw typing rule: every CRM property lands as text in `property_<name>`, exactly as HubSpot
# sent it; typing happens in dbt staging. A schema-wide preferred type enforces it even for a
# property created after the run started, so a type change never spawns variant columns.
PROPERTY_PREFIX = "property_"
PROPERTY_COLUMNS_REGEX = f"re:^{PROPERTY_PREFIX}"

CRM_COLUMNS: dict[str, dict[str, Any]] = {
    "id": {"data_type": "text", "nullable": False},
    "created_at": {"data_type": "timestamp", "nullable": True},
    "updated_at": {"data_type": "timestamp", "nullable": True},
    "archived": {"data_type": "bool", "nullable": False},
    "archived_at": {"data_type": "timestamp", "nullable": True},
}

# Associations: one snapshot row per contact, merged on contact_id. Its nested lists become
# the child tables contact_associations__deals and contact_associations__companies, which dlt
# replaces for every merged contact, so an association removed in HubSpot disappears.
ASSOCIATIONS_TABLE = "contact_associations"
ASSOCIATION_TARGETS: tuple[str, ...] = ("deals", "companies")
PRIMARY_COMPANY_TYPE_ID = 1  # HUBSPOT_DEFINED contact→company (primary)
# v3 inline association `type` names → HubSpot's association type ids (hubspot-api.md §4).
V3_TYPE_IDS: dict[str, int] = {
    "contact_to_company": 1,
    "contact_to_company_unlabeled": 279,
    "contact_to_deal": 4,
}

# Email events: HubSpot identifies an event by (id, created) (hubspot-api.md §7.1).
EVENT_PRIMARY_KEY: tuple[str, str] = ("id", "created")
EVENT_COLUMNS: dict[str, dict[str, Any]] = {
    "id": {"data_type": "text", "nullable": False},
    "created": {"data_type": "bigint", "nullable": False},  # epoch ms, as sent
    "type": {"data_type": "text"},
    "recipient": {"data_type": "text"},
    "email_campaign_id": {"data_type": "bigint"},
    "sent_by__id": {"data_type": "text"},
    "sent_by__created": {"data_type": "bigint"},
    "filtered_event": {"data_type": "bool"},
    # Lists and the deeply nested browser object stay JSON instead of child tables.
    "browser": {"data_type": "json"},
    "reply_to": {"data_type": "json"},
    "cc": {"data_type": "json"},
    "bcc": {"data_type": "json"},
    "subscriptions": {"data_type": "json"},
}

CAMPAIGN_COLUMNS: dict[str, dict[str, Any]] = {
    "id": {"data_type": "bigint", "nullable": False},
    "last_updated_time": {"data_type": "bigint"},
}

PROPERTY_DEFINITION_KEY: tuple[str, str] = ("object_type", "name")
