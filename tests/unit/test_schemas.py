import copy

from schemas.catalogue import JSON_DIR, current_schemas, incompatibilities, latest_release, read_dir, render
from schemas.events import EVENT_TYPES
from services.cli import main


def test_every_event_type_has_its_committed_json_schema_matching_the_model():
    committed = {name: render(schema) for name, schema in read_dir(JSON_DIR).items()}
    assert committed == {name: render(schema) for name, schema in current_schemas().items()}, (
        "run `crossview schemas generate` and commit schemas/json"
    )


def test_the_json_schemas_declare_draft_2020_12():
    assert all(s["$schema"].endswith("2020-12/schema") for s in current_schemas().values())


def test_the_current_models_can_read_every_event_of_the_last_release():
    release = latest_release()
    assert release is not None
    assert set(read_dir(release)) <= set(EVENT_TYPES)
    assert incompatibilities(read_dir(release), current_schemas()) == []


def test_the_schemas_check_command_passes_on_the_committed_tree():
    assert main(["schemas", "check"]) == 0


SMS = "crossview.interaction.sms.v1"


def changed(mutate):
    old = current_schemas()
    new = copy.deepcopy(old)
    mutate(new[SMS])
    return incompatibilities(old, new)


def test_removing_a_field_breaks_compatibility():
    problems = changed(lambda s: s["properties"].pop("body"))
    assert problems == [f"{SMS}: field 'body' removed"]


def test_a_new_required_field_breaks_compatibility():
    def add_required(s):
        s["properties"]["channel_code"] = {"type": "string"}
        s["required"].append("channel_code")

    assert changed(add_required) == [f"{SMS}: field 'channel_code' is newly required"]


def test_a_new_optional_field_is_compatible():
    assert changed(lambda s: s["properties"].update(channel_code={"type": "string"})) == []


def test_narrowing_a_type_breaks_compatibility():
    problems = changed(lambda s: s["properties"].update(body={"type": "integer"}))
    assert problems and "field 'body' narrowed" in problems[0]


def test_dropping_null_from_an_optional_field_breaks_compatibility():
    problems = changed(lambda s: s["properties"].update(campaign={"type": "string"}))
    assert problems and "no longer accepts null" in problems[0]


def test_removing_an_enum_value_breaks_compatibility():
    problems = changed(lambda s: s["properties"]["direction"].update(enum=["inbound"]))
    assert problems and '"outbound"' in problems[0]


def test_a_tighter_length_limit_breaks_compatibility_and_a_looser_one_does_not():
    assert changed(lambda s: s["properties"]["body"].update(maxLength=5))
    assert changed(lambda s: s["properties"]["body"].update(maxLength=50_000)) == []


def test_widening_integer_to_number_is_compatible():
    old = {"t": {"properties": {"n": {"type": "integer"}}}}
    new = {"t": {"properties": {"n": {"type": "number"}}}}
    assert incompatibilities(old, new) == []


def test_removing_a_type_breaks_compatibility():
    old = current_schemas()
    new = {k: v for k, v in old.items() if k != SMS}
    assert incompatibilities(old, new) == [f"{SMS}: type removed (old events of this type could no longer be read)"]


def test_the_asyncapi_document_is_committed_and_puts_each_type_on_its_topic():
    from importlib.metadata import version

    from schemas.asyncapi import ASYNCAPI_FILE, asyncapi_document

    document = asyncapi_document(version("crossview"))
    assert ASYNCAPI_FILE.read_text() == render(document)
    domain, interactions, audit = (
        set(document["channels"][c]["messages"]) for c in ("domain", "interactions", "audit")
    )
    assert domain | interactions | audit == set(EVENT_TYPES) and not domain & interactions and not audit & domain
    assert audit == {t for t in EVENT_TYPES if t.startswith("crossview.audit.")}
    assert interactions == {t for t in EVENT_TYPES if t.startswith(("crossview.interaction.", "crossview.journey."))}
    for event_type, message in document["components"]["messages"].items():
        assert (JSON_DIR / message["payload"]["$ref"].removeprefix("json/")).exists()
        assert message["headers"]["properties"]["ce_type"] == {"const": event_type}
