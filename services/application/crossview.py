"""The write side: use cases over the eventsourcing aggregates. Each loads, acts and saves.

The event store is PostgreSQL in production (eventsourcing.postgres) and in memory for the
embedded default; the relay (services/application/relay.py) carries what is stored to Kafka.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import uuid
from datetime import date
from typing import Any, TypeVar

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Recording, Transcoding

from domain.contact_point import ContactPoint, Resolved, contact_point_id, normalise
from domain.contact_point import Kind as ContactKind
from domain.erasure import Erasure, erasure_id
from domain.errors import ContactPointTakenError, JoinError, NotFoundError
from domain.organisation import Kind, Organisation, Relationship, organisation_id_for
from domain.person import Person
from domain.referential import AttributePolicy, Level, TitleReferential
from services.application.leads import LeadDesk
from services.application.service_desk import ServiceDesk
from services.application.wire import check_contract

A = TypeVar("A", bound=Aggregate)
log = logging.getLogger(__name__)
_RECORDED: contextvars.ContextVar[list[int]] = contextvars.ContextVar("recorded_notifications")


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


# The title of the functions a web analytics `group` call creates; an administrator may relabel it.
WEB_CONTACT_TITLE = ("web-contact", "Contact seen on the web")
CONTACT_ATTRIBUTES: dict[str, ContactKind] = {"email": "email", "mobile_phone": "phone"}


class Crossview(LeadDesk, ServiceDesk, Application):
    """People, organisations, function titles and the attribute policy, service requests and their
    kinds (services/application/service_desk.py), leads and their rules (services/application/leads.py):
    every command with invariants."""

    name = "crossview"

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def _record(self, processing_event: ProcessingEvent) -> list[Recording]:
        # Every save passes here: an event the wire contract refuses raises before anything is
        # stored (pydantic's ValidationError, "Outside the event contract" at the edge), since the
        # relay could not publish it.
        published = {id(event) for event in check_contract(processing_event.events)}
        recordings = super()._record(processing_event)
        recorded = _RECORDED.get(None)
        if recorded is not None:
            recorded.extend(
                r.notification.id for r in recordings if r.notification is not None and id(r.domain_event) in published
            )
        return recordings

    @staticmethod
    @contextlib.contextmanager
    def recording_notifications():
        """Collects the notification ids of the events the saves inside the block stored for the log
        (in this thread or task alone): where a command's events sit in the event store, which the
        read side can wait for."""
        ids: list[int] = []
        token = _RECORDED.set(ids)
        try:
            yield ids
        finally:
            _RECORDED.reset(token)

    # --- people ---------------------------------------------------------------------------

    def register_person(self, given_name: str, family_name: str, person_id: uuid.UUID | None = None) -> uuid.UUID:
        """A new person; ``person_id`` for an id of the caller's (the demo's, stable across restarts)."""
        if person_id is None:
            person = Person(given_name, family_name)
        else:
            person = Person._create(
                Person.Registered, id=person_id, given_name=given_name, family_name=family_name, provisional=False
            )
        self.save(person)
        return person.id

    def rename_person(self, person_id: uuid.UUID, given_name: str, family_name: str) -> None:
        person = self._get(Person, person_id)
        person.rename(given_name, family_name)
        self.save(person)

    def name_if_unnamed(self, person_id: uuid.UUID, given_name: str, family_name: str) -> None:
        """Name a person nobody named yet (a web visitor's traits, say); a name an advisor gave stays."""
        person = self._get(Person, person_id)
        if not (person.given_name or person.family_name):
            person.rename(given_name, family_name)
            self.save(person)

    def assign_function(
        self,
        person_id: uuid.UUID,
        organisation_id: uuid.UUID,
        title_code: str,
        entered_on: date,
        exits_on: date | None = None,
        function_id: str | None = None,
    ) -> str:
        person = self._get(Person, person_id)
        self._get(Organisation, organisation_id)
        self._titles().check_assignable(title_code)
        function_id = function_id or str(uuid.uuid4())
        person.assign_function(function_id, str(organisation_id), title_code, entered_on, exits_on)
        self.save(person)
        return function_id

    def end_function(self, person_id: uuid.UUID, function_id: str, exited_on: date) -> None:
        person = self._get(Person, person_id)
        person.end_function(function_id, exited_on)
        self.save(person)

    def reprioritise_functions(
        self, person_id: uuid.UUID, function_ids: list[str], active_on: date | None = None
    ) -> None:
        person = self._get(Person, person_id)
        person.reprioritise_functions(function_ids, active_on)
        self.save(person)

    def set_attribute(self, person_id: uuid.UUID, name: str, value: str | None, function_id: str | None = None) -> None:
        person = self._get(Person, person_id)
        self._policy().check_level(name, on_function=function_id is not None)
        claims = []
        kind = CONTACT_ATTRIBUTES.get(name)
        if kind and value:  # an email or a mobile is a contact point: stored normalised, leading to this person
            value = normalise(kind, value)
            claims = self._claims(person, kind, value, function_id)
        person.set_attribute(name, value, function_id)
        self.save(person, *claims)

    # --- identity ---------------------------------------------------------------------------

    def resolve_contact_point(self, kind: ContactKind, raw_address: str, default_country_code: str = "33") -> Resolved:
        """The person (and function) a contact point leads to; a provisional person when nobody has it yet."""
        address = normalise(kind, raw_address, default_country_code)
        for _ in range(3):
            try:
                point = self._get(ContactPoint, contact_point_id(kind, address))
                return Resolved(uuid.UUID(point.person_id), point.function_id)
            except NotFoundError:
                person = Person(None, None, provisional=True)
                person.note_contact_point(kind, address)
                try:
                    self.save(person, ContactPoint(kind, address, str(person.id)))
                    return Resolved(person.id, None)
                except IntegrityError:
                    continue  # someone claimed it meanwhile: read theirs
        raise ContactPointTakenError(f"{kind} {address} is being claimed concurrently; retry")

    def find_contact_point(self, kind: ContactKind, address: str) -> Resolved | None:
        try:
            point = self._get(ContactPoint, contact_point_id(kind, address))
        except NotFoundError:
            return None
        return Resolved(uuid.UUID(point.person_id), point.function_id)

    def identify(
        self,
        contact_points: list[tuple[ContactKind, str]],
        default_country_code: str = "33",
        keep_identified_apart: bool = False,
    ) -> Resolved:
        """The one person behind several contact points seen together (a web visitor who logs in, an
        identify with an email, an alias): everyone they lead to is joined into the first person who
        is not provisional — else into the first one's. With ``keep_identified_apart`` (identifiers
        a browser shares, such as an anonymous id), two people who each have their own email, or
        each their own user id, are never joined: the refusal is logged for an operator instead."""
        people = list(
            dict.fromkeys(
                self.resolve_contact_point(kind, address, default_country_code).person_id
                for kind, address in contact_points
            )
        )
        persons = list({p.id: p for p in (self._as_joined(p) for p in people)}.values())
        survivor = next((p for p in persons if not p.provisional), persons[0])
        emails, users = _own_identifiers(survivor)
        for other in persons:
            if other.id == survivor.id:
                continue
            other_emails, other_users = _own_identifiers(other)
            if keep_identified_apart and ((emails and other_emails) or (users and other_users)):
                log.warning(
                    "identify: person %s and person %s each have their own email or user id; not joined",
                    survivor.id,
                    other.id,
                )
                continue
            try:
                self.join_people(survivor.id, other.id)
            except JoinError as error:  # joined by a concurrent request since we read them: read again
                raise IntegrityError(f"joined concurrently: {error}") from error
            emails, users = emails | other_emails, users | other_users
        return Resolved(survivor.id, None)

    def _as_joined(self, person_id: uuid.UUID) -> Person:
        """The person, or whom they were joined into (at any depth)."""
        person = self._get(Person, person_id)
        for _ in range(20):
            if person.merged_into is None:
                break
            person = self._get(Person, uuid.UUID(person.merged_into))
        return person

    def index_contact_point(self, person_id: uuid.UUID, kind: ContactKind, address: str) -> Resolved:
        """Let a contact point lead to the person without making it part of their profile (a
        call-centre contact id, so that the contact's late events find them). Returns whom it leads
        to: this person, or whoever had it already."""
        address = normalise(kind, address)
        if (holder := self.find_contact_point(kind, address)) is not None:
            return holder
        try:
            self.save(ContactPoint(kind, address, str(person_id)))
        except IntegrityError:  # claimed meanwhile by a concurrent request
            return self.find_contact_point(kind, address) or Resolved(person_id, None)
        return Resolved(person_id, None)

    def attach_contact_point(
        self, person_id: uuid.UUID, kind: ContactKind, raw_address: str, default_country_code: str = "33"
    ) -> None:
        """Give a person a contact point; refused when another person has it (join them instead)."""
        person = self._get(Person, person_id)
        self.save(person, *self._claims(person, kind, normalise(kind, raw_address, default_country_code), None))

    def _claims(self, person: Person, kind: ContactKind, address: str, function_id: str | None) -> list:
        """The contact point to save with the command, claimed for the person (and function) or moved
        between the person's own functions."""
        person.note_contact_point(kind, address)
        try:
            point = self._get(ContactPoint, contact_point_id(kind, address))
        except NotFoundError:
            return [ContactPoint(kind, address, str(person.id), function_id)]
        if point.person_id != str(person.id):
            # Whose it is stays unsaid: an error never names a person the caller did not name.
            raise ContactPointTakenError(f"{kind} {address} belongs to another person: join the two people")
        point.carry(function_id)
        return [point]

    def join_people(self, survivor_id: uuid.UUID, absorbed_id: uuid.UUID) -> None:
        """One person after all (an identify, an alias, an advisor's decision): the survivor takes the
        other's history and contact points; later events for either go to the survivor."""
        survivor, absorbed = self._get(Person, survivor_id), self._get(Person, absorbed_id)
        survivor.join(absorbed)
        points = []
        for kind, address in absorbed.contact_points:
            point = self._get(ContactPoint, contact_point_id(kind, address))
            point.reassign(str(survivor.id))
            survivor.note_contact_point(kind, address)
            points.append(point)
        self.save(survivor, absorbed, *points)

    def join_organisation(self, person_id: uuid.UUID, external_key: str, name: str, on: date) -> str | None:
        """The person works for an organisation another system names (a Segment group): registered
        as a prospect company the first time, and given a function there (WEB_CONTACT_TITLE) unless
        they hold one already. None when an administrator retired that title: no function is made."""
        organisation_id = organisation_id_for(external_key)
        try:
            self._get(Organisation, organisation_id)
        except NotFoundError:
            with contextlib.suppress(IntegrityError):  # registered by a concurrent call: it is there now
                self.save(Organisation(name, "company", "prospect", external_key=external_key))
        person = self._get(Person, person_id)
        for function in person.functions.values():
            if function.organisation_id == str(organisation_id) and function.is_active_on(on):
                return function.function_id
        code, label = WEB_CONTACT_TITLE
        titles = self._titles()
        if code not in titles.titles:
            titles.define_title(code, label)
            try:
                self.save(titles)
            except IntegrityError:
                titles = self._titles()  # defined by a concurrent call
        if code in titles.retired:
            return None
        function_id = str(uuid.uuid4())
        person.assign_function(function_id, str(organisation_id), code, on)
        self.save(person)
        return function_id

    def separate_people(self, survivor_id: uuid.UUID, absorbed_id: uuid.UUID) -> None:
        """Undo a join: the absorbed person is their own again, and the contact points they brought
        lead to them again (to the function whose attribute holds them, if any). Interactions that
        reached the survivor while they were one stay the survivor's."""
        survivor, absorbed = self._get(Person, survivor_id), self._get(Person, absorbed_id)
        survivor.separate(absorbed)
        points = []
        for kind, address in absorbed.contact_points:
            point = self._get(ContactPoint, contact_point_id(kind, address))
            if point.person_id == str(survivor.id):
                point.reassign(str(absorbed.id))
                point.carry(_carrier(absorbed, kind, address))
                points.append(point)
        self.save(survivor, absorbed, *points)

    # --- erasure (GDPR article 17) -------------------------------------------------------------

    def erasure_plan(self, person_id: uuid.UUID) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
        """Who is erased together — the person, whoever they were joined into, everyone joined into
        them: one human — and their other aggregates: the contact points that lead to them, and
        the service requests opened for them."""
        root = self._get(Person, person_id)
        for _ in range(20):
            if root.merged_into is None:
                break
            root = self._get(Person, uuid.UUID(root.merged_into))
        family: dict[uuid.UUID, Person] = {}
        pending = [root]
        while pending:
            person = pending.pop()
            if person.id not in family:
                family[person.id] = person
                pending += [self._get(Person, uuid.UUID(a)) for a in person.absorbed]
        points = []
        for person in family.values():
            for kind, address in person.contact_points:
                point_id = contact_point_id(kind, address)
                with contextlib.suppress(NotFoundError):
                    if uuid.UUID(self._get(ContactPoint, point_id).person_id) in family:
                        points.append(point_id)
        return list(family), sorted(set(points)) + self.request_aggregates_of(list(family))

    def record_erasure(self, person_ids: list[uuid.UUID], on: date) -> None:
        """Record each erasure once; already recorded ones are left as they are."""
        self.save(*[Erasure(str(p), on) for p in person_ids if not self.is_erased(p)])

    def is_erased(self, person_id: uuid.UUID) -> bool:
        try:
            self.repository.get(erasure_id(str(person_id)))
        except AggregateNotFoundError:
            return False
        return True

    # --- organisations and referentials ------------------------------------------------------

    def register_organisation(
        self, name: str, kind: Kind, relationship: Relationship, organisation_id: uuid.UUID | None = None
    ) -> uuid.UUID:
        if organisation_id is None:
            organisation = Organisation(name, kind, relationship)
        else:
            organisation = Organisation._create(
                Organisation.Registered,
                id=organisation_id,
                name=name,
                kind=kind,
                relationship=relationship,
                external_key=None,
            )
        self.save(organisation)
        return organisation.id

    def change_relationship(self, organisation_id: uuid.UUID, relationship: Relationship, since: date) -> None:
        organisation = self._get(Organisation, organisation_id)
        organisation.change_relationship(relationship, since)
        self.save(organisation)

    def define_title(self, code: str, label: str) -> None:
        titles = self._titles()
        titles.define_title(code, label)
        self.save(titles)

    def retire_title(self, code: str) -> None:
        titles = self._titles()
        titles.retire_title(code)
        self.save(titles)

    def set_attribute_level(self, attribute: str, level: Level) -> None:
        policy = self._policy()
        policy.set_level(attribute, level)
        self.save(policy)

    def attribute_levels(self) -> dict[str, str]:
        return dict(self._policy().levels)

    # --- loading ----------------------------------------------------------------------------

    def _get(self, kind: type[A], aggregate_id: Any) -> A:
        try:
            aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            aggregate = None
        if not isinstance(aggregate, kind):
            raise NotFoundError(f"no {kind.__name__.lower()} {aggregate_id}")
        return aggregate

    def _titles(self) -> TitleReferential:
        return self._singleton(TitleReferential)

    def _policy(self) -> AttributePolicy:
        return self._singleton(AttributePolicy)

    def _singleton(self, kind: type[A]) -> A:
        try:
            return self.repository.get(kind.create_id())
        except AggregateNotFoundError:
            return kind()


def _own_identifiers(person: Person) -> tuple[set[str], set[str]]:
    """The emails and the web user ids that lead to the person."""
    emails = {address for kind, address in person.contact_points if kind == "email"}
    users = {address for kind, address in person.contact_points if kind == "web" and address.startswith("user:")}
    return emails, users


def _carrier(person: Person, kind: str, address: str) -> str | None:
    """The function whose contact attribute holds this address, if one does."""
    for function_id, attributes in person.function_attributes.items():
        if any(k == kind and attributes.get(name) == address for name, k in CONTACT_ATTRIBUTES.items()):
            return function_id
    return None
