"""Domain errors; the HTTP layer maps each to one status code."""


class DomainError(Exception):
    code = "error"


class NotFound(DomainError):
    code = "not_found"


class Invalid(DomainError):
    code = "invalid"


class Conflict(DomainError):
    code = "conflict"


class Forbidden(DomainError):
    code = "forbidden"
