"""Search at a cut (time travel, projections/as_of.py): who may have matched a query as the log stood
then, as a pure function of the timeline's rows; the answer folds each of them at the cut and asks
directory.matches, as for a live search.

The live search index holds what people are now, so it would miss a person renamed since the cut
and find one created after it. The candidates come instead from the events themselves: every value
search reads (directory.searchable_text) is one that some event of the person set —

- a given or family name: ``PersonRegistered`` or ``PersonRenamed`` (the fold keeps one of these);
- an attribute value, the person's or a function's: ``AttributeSet``;
- a contact point: ``ContactPointAdded``;
- a function's title code and organisation: ``FunctionAssigned`` (a function ends, it never
  changes title or organisation) —

and a word never spans two values (values are searched one by one, a word holds no space). So a
person who matched at the cut has, for every word, an event the cut keeps whose value holds it, or
that assigned a function whose title (today's labels, as time-travelled answers show them) or
organisation (an organisation's name is set once, at its registration) holds it. These people are a
superset of the matches: nobody is missed, and the fold at the cut removes the rest (a name changed
again before the cut, a function not active on the day, a person joined into another then). Events
joins carry copy nothing, and an erased person's events keep no data: they are never candidates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from projections.directory import References
from projections.timeline import TimelineEntry
from schemas.events import AttributeSet, ContactPointAdded, FunctionAssigned, PersonRegistered, PersonRenamed

# Event type -> the fields of its data whose values search reads.
TRACED: Mapping[str, tuple[str, ...]] = {
    PersonRegistered.event_type: ("given_name", "family_name"),
    PersonRenamed.event_type: ("given_name", "family_name"),
    AttributeSet.event_type: ("value",),
    ContactPointAdded.event_type: ("address",),
    FunctionAssigned.event_type: ("title_code",),
}
ASSIGNED = FunctionAssigned.event_type
# More candidates than this at a cut is a query too broad to answer by folding each (a few
# milliseconds a person): the answer asks for another word rather than taking seconds.
CANDIDATES_AT_CUT = 500


def traced_text(event_type: str, data: Mapping[str, Any]) -> str:
    """The values of one event that search reads, lower-cased, one a line."""
    return "\n".join(str(data.get(name) or "") for name in TRACED.get(event_type, ())).lower()


def may_have_matched(entries: Iterable[TimelineEntry], words: list[str], refs: References) -> bool:
    """Whether every word is in a value these entries (a person's, those a cut keeps) set, or names
    the title or organisation of a function they assigned (see the module's docstring)."""
    held = [(e.event_type, e.data) for e in entries if e.event_type in TRACED]
    for word in words:
        titles, organisations = refs.titles_matching(word), refs.organisations_named(word)
        if not any(
            word in traced_text(event_type, data)
            or (
                event_type == ASSIGNED
                and (data.get("title_code") in titles or data.get("organisation_id") in organisations)
            )
            for event_type, data in held
        ):
            return False
    return True
