"""JSON answers as dicts that also read as attributes (``reply.choices[0].message.content``)."""


class ShardObject(dict):
    """A JSON object: a ``dict`` whose keys also read as attributes."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class ContributionAck(ShardObject):
    """``{ok, detail}`` acknowledgement of a control message, with what changed (``session``/``node``)."""


def wrap(value, cls=ShardObject):
    """Turns parsed JSON into ShardObjects (recursively); ``cls`` is used for the top level."""
    if isinstance(value, dict):
        return cls({k: wrap(v) for k, v in value.items()})
    if isinstance(value, list):
        return [wrap(v) for v in value]
    return value
