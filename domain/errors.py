"""Named errors of the domain: each says which rule a command broke."""


class DomainError(Exception):
    """A command broke a business rule (the API answers 409)."""


class NotFoundError(DomainError):
    """A referenced person, organisation, function or title does not exist (the API answers 404)."""


class ExitBeforeEntryError(DomainError):
    pass


class DuplicateActiveFunctionError(DomainError):
    pass


class UnknownFunctionError(NotFoundError):
    pass


class NotAPermutationError(DomainError):
    pass


class FunctionAlreadyEndedError(DomainError):
    pass


class UnknownTitleError(NotFoundError):
    pass


class RetiredTitleError(DomainError):
    pass


class AttributeLevelError(DomainError):
    """The attribute is set at a level the ownership policy does not give it."""


class ContactPointTakenError(DomainError):
    """The contact point belongs to another person: join the two people instead."""


class JoinError(DomainError):
    """Two people cannot be joined (the same person, or one already joined into another)."""


# --- offers -----------------------------------------------------------------------------------


class UnknownOfferError(NotFoundError):
    """No offer of that code in the catalogue."""


class OfferWindowError(DomainError):
    """An offer's validity ends before it starts."""


class OfferNotValidError(DomainError):
    """The offer is withdrawn, or outside its validity: it cannot be accepted."""


class OfferAlreadyAnsweredError(DomainError):
    """The person already accepted or declined this offer."""


# --- service requests and complaints ---------------------------------------------------------


class UnknownRequestKindError(NotFoundError):
    """No such kind of service request in the referential."""


class RetiredRequestKindError(DomainError):
    """The kind of service request is retired: no new request may be opened with it."""


class RequestTransitionError(DomainError):
    """A service request cannot go from its state to the one asked for (say, closed to in progress)."""


class RequestClosedError(DomainError):
    """A closed service request takes no assignment nor comment: reopen it first."""


# --- leads (domain/lead.py) ------------------------------------------------------------------


class LeadTransitionError(DomainError):
    """The lead is not at a stage this command applies to (routed before qualified, say)."""


class LeadClosedError(DomainError):
    """The lead was converted or lost: nothing more happens to it."""


class QualificationOverrideError(DomainError):
    """A size chosen against the qualification rules without saying why."""


class LeadRulesError(DomainError):
    """The qualification and routing rules an administrator set do not hold together."""


class NotAPrescriberError(DomainError):
    """A referral credited to an organisation that is not one of our prescribers."""
