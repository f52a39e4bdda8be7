"""One name registry, shared by activations, losses, optimizers, initializers and metrics.

Each of those modules makes one :class:`Registry` and keeps its public
``get``, ``serialize`` and ``deserialize`` as one-line calls to it. This module
imports nothing from convlearn but ``_checks``, so any module can use it
without an import cycle.
"""

from __future__ import annotations

from ._checks import unknown_name

# the keys of a config dict; Keras 3 also writes "module" and "registered_name", read and ignored here
_CONFIG_KEYS = ("class_name", "config", "module", "registered_name")

_DEFAULT_ADVICE = (". Pass a name (valid: {valid}), a class, a config dict such as "
                   "{{'class_name': ..., 'config': {{...}}}} or an instance.")


class Registry:
    """The classes of one kind of object, by class name and by lowercase alias.

    Parameters
    ----------
    kind : str
        What the objects are, for messages: ``"loss"``, ``"optimizer"``, ...
    base : type
        Their base class. An instance of it (registered or not) is returned
        by :meth:`get` as it is; a subclass is instantiated with no arguments.
    advice : str, optional
        The end of the TypeError message for an identifier of no accepted
        kind, after ``"Could not interpret <kind> <identifier>"`` and from its
        punctuation on; ``{valid}`` in it becomes the comma-separated names.
    functions : bool, default False
        Whether :meth:`get` also accepts a function whose ``__name__`` is a
        registered alias, as the module's array functions are
        (``convlearn.losses.mean_squared_error``).

    Examples
    --------
    ::

        REGISTRY = Registry("loss", Loss)

        @REGISTRY.register("mean_squared_error", "mse")
        class MeanSquaredError(Loss): ...

        REGISTRY.get("MSE")                        # MeanSquaredError()
        REGISTRY.serialize(MeanSquaredError())     # {"class_name": "MeanSquaredError", "config": {...}}
    """

    def __init__(self, kind, base, advice=_DEFAULT_ADVICE, functions=False):
        self.kind = kind
        self.base = base
        self._advice = advice
        self._functions = functions
        self._classes = {}           # class name -> class
        self._aliases = {}           # lowercase alias -> class

    def register(self, *aliases):
        """Class decorator: make the class known under its class name and under each alias.

        ``@REGISTRY.register("mean_squared_error", "mse")`` above ``class
        MeanSquaredError``; for a class made otherwise, ``REGISTRY.register("mse")(cls)``.
        The decorator returns the class unchanged.

        Raises
        ------
        TypeError
            If the class is not a subclass of the registry's base class.
        ValueError
            If an alias is not lowercase, or a name already stands for another class.
        """
        for alias in aliases:
            if not isinstance(alias, str) or alias != alias.lower():
                raise ValueError(f"{self.kind.capitalize()} aliases must be lowercase strings (names are "
                                 f"looked up lowercased); got {alias!r}.")

        def decorator(cls):
            if not (isinstance(cls, type) and issubclass(cls, self.base)):
                raise TypeError(f"Only subclasses of {self.base.__name__} can be registered as {self.kind} "
                                f"classes; got {cls!r}.")
            entries = [(self._classes, cls.__name__)] + [(self._aliases, alias) for alias in aliases]
            for table, name in entries:
                if table.get(name, cls) is not cls:
                    raise ValueError(f"The {self.kind} name {name!r} is already registered for "
                                     f"{table[name].__name__}; cannot register {cls.__name__} under it too.")
            for table, name in entries:
                table[name] = cls
            return cls

        return decorator

    def names(self):
        """The sorted aliases, as listed in error messages."""
        return sorted(self._aliases)

    def class_names(self):
        """The sorted class names (not the aliases)."""
        return sorted(self._classes)

    def get_class(self, class_name):
        """The class registered under ``class_name`` (a class name or an alias, exactly), or None."""
        return self._classes.get(class_name) or self._aliases.get(class_name)

    def get(self, identifier):
        """Turn an identifier into an object of the registry's kind.

        Parameters
        ----------
        identifier : str, type, dict, object or function
            A name (case-insensitive), a class, a config dict as written by
            :meth:`serialize`, an instance (returned as it is) or, with
            ``functions=True``, a function named after an alias.

        Raises
        ------
        ValueError
            For an unknown name (the message suggests the closest one) or a
            malformed config dict.
        TypeError
            For an identifier of any other kind.
        """
        if isinstance(identifier, self.base):
            return identifier
        if isinstance(identifier, type) and issubclass(identifier, self.base):
            return identifier()
        if isinstance(identifier, (str, dict)):
            return self.deserialize(identifier)
        if self._functions and callable(identifier) and getattr(identifier, "__name__", None) in self._aliases:
            return self._aliases[identifier.__name__]()
        raise self._not_understood(identifier)

    def serialize(self, obj):
        """``{"class_name": ..., "config": obj.get_config()}`` for anything :meth:`get` accepts."""
        obj = self.get(obj)
        return {"class_name": type(obj).__name__, "config": obj.get_config()}

    def deserialize(self, config):
        """Rebuild an object from what :meth:`serialize` wrote (or from a name).

        The class's ``from_config`` builds it when the class has one, else the
        class is called with the config's items as keyword arguments.

        Raises
        ------
        ValueError
            For an unknown name or class name, or a malformed config dict.
        TypeError
            For anything but a dict or a string.
        """
        if isinstance(config, str):
            cls = self._aliases.get(config.lower())
            if cls is None:
                raise unknown_name(self.kind, config, self.names())
            return cls()
        if not isinstance(config, dict):
            raise self._not_understood(config)
        unknown = [key for key in config if key not in _CONFIG_KEYS]
        if unknown or not isinstance(config.get("class_name"), str):
            raise ValueError(
                f"Could not read the {self.kind} config {config!r}: expected a dict with a 'class_name' string and "
                "a 'config' dict (Keras's 'module' and 'registered_name' keys are accepted and ignored)"
                + (f"; unknown key(s): {', '.join(map(repr, unknown))}." if unknown else ".")
            )
        cls = self.get_class(config["class_name"])
        if cls is None:
            raise unknown_name(self.kind, config["class_name"], self.names())
        arguments = config.get("config", {})
        if not isinstance(arguments, dict):
            raise ValueError(f"Could not read the {self.kind} config {config!r}: its 'config' must be a dict "
                             f"of {cls.__name__}'s arguments; got {arguments!r}.")
        from_config = getattr(cls, "from_config", None)
        return from_config(arguments) if from_config is not None else cls(**arguments)

    def _not_understood(self, identifier):
        """The TypeError for an identifier of no accepted kind."""
        advice = self._advice.format(valid=", ".join(self.names()))
        return TypeError(f"Could not interpret {self.kind} {identifier!r}{advice}")
