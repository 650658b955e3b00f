"""What a loss term may read and must return, enforced on every term of a run, built-in or a user's.

- **No ground truth for a self-supervised loss.** A loss whose config does not say ``supervised: true``
  gets, in place of the trainer's ``x``, a :class:`WithheldGroundTruth`: it holds no data and any use
  of it (arithmetic, an attribute such as ``.shape`` or ``.to``, indexing, a torch function,
  comparison, ``len``, iteration, ``bool``) stops the run with :class:`GroundTruthRead`. Passing it
  on (to a sub-loss) or testing ``x is None`` reads nothing and is allowed. The trainer keeps the
  real ``x`` for its test metrics.
- **The call contract.** A term must accept the keywords deepinv's trainer passes (checked on its
  first call) and return, on every call, a real floating tensor of one value per image or a scalar,
  with a gradient while training; else :class:`LossContractError` says which call returned what,
  and what the contract is. Non-finite values are the trainer's to report (the run diverged).
- **Where it holds.** A term is checked where the trainer calls it: its class gains
  :class:`UnderContract`, so a class's own ``__call__`` or hooks do not go around the check.

Both are :class:`~ssibench.config.checks.InputError`: one line in a single run, the ``failed``
reason in a sweep, never an ``ok`` result.
"""

from __future__ import annotations

import inspect

import torch
from deepinv.loss import Loss

from ssibench.errors import InputError

# The keywords deepinv 0.5's Trainer.compute_loss passes each loss term; AdversarialTrainer adds two.
TRAINER_KEYWORDS = ("x", "x_net", "y", "physics", "model", "epoch")
ADVERSARIAL_KEYWORDS = ("y_hat", "D")
SIGNATURE = "forward(self, x_net, y, physics, model, x=None, **kwargs)"
CONTRACT = (
    f"a loss is {SIGNATURE}, called with the keywords {', '.join(TRAINER_KEYWORDS)} "
    f"(adversarial training adds {', '.join(ADVERSARIAL_KEYWORDS)}), and returns a tensor of one value "
    "per image, shape (B,), or a scalar"
)


class GroundTruthRead(InputError):
    """A self-supervised loss read the ground truth."""


class LossContractError(InputError):
    """A loss term does not take the trainer's keywords or returns something else than its values."""


class WithheldGroundTruth:
    """Stands in for the ground truth ``x`` given to a self-supervised loss: it holds no data, and
    every use raises :class:`GroundTruthRead` naming ``reader``, and is remembered in ``read`` (so a
    loss that catches the error and goes on, or raises another, is caught too)."""

    __slots__ = ("reader", "read")

    def __init__(self, reader: str):
        self.reader = reader
        self.read: str | None = None  # how it was first read

    def refuse(self, how: str):
        self.read = self.read or how
        raise GroundTruthRead(ground_truth_read(self.reader, how))

    def __getattr__(self, name):  # only called for what the object lacks: every tensor attribute
        self.refuse(f"x.{name}")

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        withheld = list(_withheld_in((args, kwargs or {})))
        how = f"x used in {getattr(func, '__name__', func)}"
        for item in withheld[1:]:
            item.read = item.read or how
        withheld[0].refuse(how)

    def __repr__(self) -> str:
        return f"<ground truth withheld from {self.reader}>"

    __hash__ = object.__hash__  # kept, although __eq__ refuses: hashing reveals nothing


def _withheld_in(value):
    """The stand-ins among a torch function's arguments, in lists, tuples and dicts too (torch.stack([x_net, x]))."""
    if isinstance(value, WithheldGroundTruth):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _withheld_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _withheld_in(item)


def _refusing(operator: str):
    def refuse(self, *args, **kwargs):
        self.refuse(f"x used in {operator}")

    return refuse


for _operator in (
    # arithmetic, reflected and in place
    *(f"__{prefix}{op}__" for op in (
        "add", "sub", "mul", "matmul", "truediv", "floordiv", "mod", "divmod", "pow",
        "lshift", "rshift", "and", "xor", "or",
    ) for prefix in ("", "r", "i")),
    "__neg__", "__pos__", "__abs__", "__invert__", "__round__", "__trunc__", "__floor__", "__ceil__",
    # comparison, conversion, containers
    "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__",
    "__bool__", "__float__", "__int__", "__index__", "__complex__",
    "__len__", "__iter__", "__reversed__", "__getitem__", "__setitem__", "__delitem__", "__contains__",
    "__array__", "__dlpack__",
):
    setattr(WithheldGroundTruth, _operator, _refusing(_operator))
del _operator


def ground_truth_read(reader: str, how: str) -> str:
    return (
        f"{reader} read the ground truth x ({how}) during training: a self-supervised loss must not read x "
        "(only a loss whose config says supervised: true is given it)"
    )


class Contract:
    """One loss term's contract, applied at each call the trainer makes of the term: the ground truth
    withheld unless the loss is supervised, the keywords checked on the first call, and the returned
    value on every call (cheap: its type, dtype, shape, and a gradient where ``x_net`` has one)."""

    def __init__(self, name: str, supervised: bool):
        self.name, self.supervised = name, supervised
        self.calls = 0

    def call(self, term, method, args, kwargs):
        """``method(*args, **kwargs)`` (the term's own ``__call__``, hooks and all) under the contract."""
        self.calls += 1
        if self.calls == 1:
            self._check_call(_called(term), args, kwargs)
        withheld = None
        if not self.supervised and "x" in kwargs:
            kwargs["x"] = withheld = WithheldGroundTruth(self.name)
        try:
            value = method(*args, **kwargs)
        except GroundTruthRead:
            raise
        except Exception:
            if withheld is not None and withheld.read:  # refused, and the refusal turned into another error
                raise GroundTruthRead(ground_truth_read(self.name, withheld.read)) from None
            raise
        if withheld is not None and withheld.read:  # refused, and the loss caught the refusal and went on
            raise GroundTruthRead(ground_truth_read(self.name, withheld.read))
        wrong = _wrong_value(value, kwargs.get("x_net"))
        if wrong:
            raise LossContractError(f"{self.name} returned {wrong} at call {self.calls}: {CONTRACT}")
        return value

    def _check_call(self, called, args, kwargs) -> None:
        try:
            inspect.signature(called).bind(*args, **kwargs)
        except TypeError as error:
            raise LossContractError(
                f"{self.name} cannot be called with the trainer's keywords {', '.join(kwargs)} ({error}): {CONTRACT}"
            ) from None


def _called(term):
    """What a call of ``term`` runs first: its class's own ``__call__``, else (a module's) ``forward``."""
    own = type(term).__mro__[2].__call__  # past UnderContract and the guarded class itself
    return own.__get__(term) if own is not torch.nn.Module.__call__ else term.forward


def _wrong_value(value, x_net) -> str | None:
    """What is wrong with a loss term's value, or None: a real floating tensor of one value per
    image or a scalar, carrying a gradient whenever ``x_net`` does (else it trains nothing)."""
    if not isinstance(value, torch.Tensor):
        return f"a {type(value).__name__}, not a tensor"
    if not value.dtype.is_floating_point:
        return f"a {value.dtype} tensor, not a real floating one"
    batch = x_net.shape[0] if isinstance(x_net, torch.Tensor) and x_net.ndim else None
    if value.shape not in ((), (1,)) and value.shape != (batch,):
        return f"a tensor of shape {tuple(value.shape)} for a batch of {batch} images"
    if isinstance(x_net, torch.Tensor) and x_net.requires_grad and torch.is_grad_enabled() and not value.requires_grad:
        return "a tensor without a gradient, detached from x_net (it trains nothing)"
    return None


class UnderContract:
    """Mixed in before a loss term's class by :func:`enforce_contract`: every call of the term,
    whatever its class defines (``forward``, its own ``__call__``, hooks), goes through its
    :class:`Contract`."""

    def __call__(self, *args, **kwargs):
        return self.__dict__["_ssibench_contract"].call(self, super().__call__, args, kwargs)


_UNDER_CONTRACT: dict[type, type] = {}


def _under_contract(cls: type) -> type:
    """``cls`` with :class:`UnderContract` mixed in, under the same name (deepinv names a term's
    curves after its class), module and qualified name; made once per class."""
    if cls not in _UNDER_CONTRACT:
        names = {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__}
        _UNDER_CONTRACT[cls] = type(cls.__name__, (UnderContract, cls), names)
    return _UNDER_CONTRACT[cls]


def enforce_contract(terms: list, specs, label: str | None, supervised: bool) -> None:
    """Put each loss term (instantiated from its config in ``specs``) under the contract, in place:
    its class gains :class:`UnderContract` (named as before) and it holds its :class:`Contract`.
    Its parameters, module tree and random streams stay as they are."""
    for term, spec in zip(terms, specs):
        target = spec.get("_target_") if hasattr(spec, "get") else None
        target = target or f"{type(term).__module__}.{type(term).__qualname__}"
        name = f"loss {label!r} ({target})" if label else f"loss {target}"
        if not isinstance(term, Loss):  # deepinv's trainer calls Loss.adapt_model on every term before training
            raise LossContractError(
                f"{name} is a {type(term).__name__}, not a deepinv.loss.Loss: subclass deepinv.loss.Loss; {CONTRACT}"
            )
        if not isinstance(term, UnderContract):
            term.__class__ = _under_contract(type(term))
        term.__dict__["_ssibench_contract"] = Contract(name, supervised)
