"""The trainer options the experiment commands share, declared once: :class:`TrainerOptions`.

How runs train, not which runs: the trainer (``fusion``), the fused trainers' compilation, convolution form
and weight copies, and both trainers' SGD kernel. None of them is part of a run's identity (its config
hash); the results record them where they are not the default. Each field carries its help text and its
accepted values (in the grouped-hyperparameter style of open_lth): :meth:`TrainerOptions.add_args` declares
the command-line flags, :meth:`TrainerOptions.from_args` reads them back, and the object is what
``dnn.table``, :func:`~sketchbound.dnn.experiments.run.run_configs` and ``dnn.bench_train`` pass down.

This module imports no torch, so a command's parser stays light.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields, replace
from typing import Collection, MutableMapping

__all__ = ["TrainerOptions", "FUSION_CHOICES", "COMPILE_MODES", "CONV_GEMM", "SGD_KERNELS", "check_compile_mode",
           "check_conv_gemm"]

#: values of the ``fusion`` option: fuse where measured faster (CUDA), always, never
FUSION_CHOICES = ("auto", "on", "off")

#: ``torch.compile`` modes accepted by ``FusedTrainer(compile_mode=...)``: the ones without Inductor's own
#: CUDA graphs, since the trainer captures the whole step (forward, backward, optimiser) in its own graph
COMPILE_MODES = ("default", "max-autotune-no-cudagraphs")

#: which fused convolutions run as one batched GEMM over unfolded patches
#: (:func:`~sketchbound.dnn.training.fused_layers.grouped_conv2d_gemm`) instead of cuDNN's grouped convolution:
#: none, those with a stride > 1, all, or those where the GEMM form measures faster
#: (:func:`~sketchbound.dnn.training.fused_conv_choice.choose_conv_gemm`)
CONV_GEMM = ("off", "strided", "all", "auto")

#: implementations of the masked SGD step (:mod:`~sketchbound.dnn.training.sgd_kernel`)
SGD_KERNELS = ("foreach", "triton")


def check_compile_mode(mode, name: str = "compile_mode"):
    """``mode`` if it is ``None`` (eager) or one of :data:`COMPILE_MODES`, else a ``ValueError`` naming
    ``name`` (an argument or a CLI flag), the value and the accepted modes.

    Parameters
    ----------
    mode : str or None
        The ``torch.compile`` mode of the fused step; ``None``: eager.
    name : str
        The argument or flag named in the message.

    Returns
    -------
    str or None
        ``mode``.

    Examples
    --------
    >>> check_compile_mode("default")
    'default'
    >>> check_compile_mode("reduce-overhead", "--fused-compile")
    Traceback (most recent call last):
    ValueError: --fused-compile must be None (eager) or one of default, max-autotune-no-cudagraphs, got 'reduce-overhead'
    """
    if mode is not None and mode not in COMPILE_MODES:
        raise ValueError(f"{name} must be None (eager) or one of {', '.join(COMPILE_MODES)}, got {mode!r}")
    return mode


def check_conv_gemm(conv_gemm, name: str = "conv_gemm") -> str:
    """``conv_gemm`` if it is one of :data:`CONV_GEMM`, else a ``ValueError`` naming ``name``, the value and
    the accepted ones.

    Parameters
    ----------
    conv_gemm : str
        Which fused convolutions run in the GEMM form.
    name : str
        The argument or flag named in the message.

    Returns
    -------
    str
        ``conv_gemm``.

    Examples
    --------
    >>> check_conv_gemm("strided")
    'strided'
    >>> check_conv_gemm("yes")
    Traceback (most recent call last):
    ValueError: conv_gemm must be one of off, strided, all, auto, got 'yes'
    """
    if conv_gemm not in CONV_GEMM:
        raise ValueError(f"{name} must be one of {', '.join(CONV_GEMM)}, got {conv_gemm!r}")
    return conv_gemm


def _option(default, help: str, choices: tuple | None = None, metavar: str | None = None):
    return field(default=default, metadata={"help": help, "choices": choices, "metavar": metavar})


@dataclass(frozen=True)
class TrainerOptions:
    """How the runs of an experiment train (not which runs): the options ``dnn.table``, ``dnn.run``'s
    :func:`~sketchbound.dnn.experiments.run.run_configs` and ``dnn.bench_train`` share.

    Parameters
    ----------
    fusion : str
        One of :data:`FUSION_CHOICES`: the runs of one architecture as one horizontally fused network
        (:class:`~sketchbound.dnn.training.fused_trainer.FusedTrainer`) where a few measured steps are
        faster on CUDA (``"auto"``), always (``"on"``) or never (``"off"``).
    fused_compile : str or None
        One of :data:`COMPILE_MODES`: the fused trainers' forward and backward through ``torch.compile``;
        ``None``: eager.
    conv_gemm : str
        One of :data:`CONV_GEMM`: which fused convolutions run as one batched GEMM.
    sgd_kernel : str
        One of :data:`SGD_KERNELS`: both trainers' masked SGD step.
    weight_copies : bool
        The fused trainers' weights read as bfloat16 copies the Triton SGD kernel writes (needs
        ``sgd_kernel="triton"``).

    Examples
    --------
    >>> opts = TrainerOptions(fusion="on", conv_gemm="strided")
    >>> opts.fused_kw(), opts.common_kw()
    ({'conv_gemm': 'strided'}, {})
    >>> p = argparse.ArgumentParser()
    >>> TrainerOptions.add_args(p)
    >>> TrainerOptions.from_args(p.parse_args(["--sgd-kernel", "triton", "--weight-copies"])).common_kw()
    {'sgd_kernel': 'triton'}
    """

    fusion: str = _option("auto", "train the runs of one architecture as one horizontally fused network: auto "
                                  "(default: where a few measured steps are faster, CUDA only), on, off; not part of "
                                  "a run's identity", FUSION_CHOICES)
    fused_compile: str | None = _option(None, "the fused trainers' forward and backward through torch.compile in "
                                              "MODE, one without Inductor's own CUDA graphs ("
                                              + ", ".join(COMPILE_MODES) + "; default: eager), inside the trainer's "
                                              "own CUDA graph; results differ by floating-point order only; not part "
                                              "of a run's identity, recorded with the results; --fusion auto times "
                                              "the compiled fused step against streams", COMPILE_MODES, "MODE")
    conv_gemm: str = _option("off", "the fused trainers' convolutions as one batched GEMM over unfolded patches "
                                    "instead of cuDNN's grouped convolution: off (default), strided (stride > 1), all, "
                                    "auto (per convolution where it measures faster, on CUDA); results differ by "
                                    "floating-point order only; not part of a run's identity, recorded with the "
                                    "results", CONV_GEMM)
    sgd_kernel: str = _option("foreach", "both trainers' (streams, fused) masked SGD step: foreach (default) or one "
                                         "Triton kernel per parameter reading and writing each element once (needs "
                                         "Triton and CUDA); the same update up to floating-point rounding; not part "
                                         "of a run's identity, recorded with the results", SGD_KERNELS)
    weight_copies: bool = _option(False, "the fused trainers' convolutions and linears read bfloat16 copies of their "
                                         "weights that the Triton SGD kernel writes (no cast per step; needs "
                                         "--sgd-kernel triton); the same arithmetic; recorded with the results")

    @classmethod
    def add_args(cls, parser: argparse.ArgumentParser, *, skip: Collection[str] = (),
                 checked_later: Collection[str] = ()) -> None:
        """Declare a flag per field (``--fused-compile`` for ``fused_compile``) in a group of ``parser``.

        Parameters
        ----------
        parser : argparse.ArgumentParser
            The command's parser.
        skip : collection of str
            Fields the command has no flag for (``dnn.bench_train`` picks its trainers itself: no ``fusion``).
        checked_later : collection of str
            Fields declared without argparse ``choices``: the command checks them after parsing
            (:meth:`flag_error`), with a message that names the flag, the value and what is accepted.

        Returns
        -------
        None

        Examples
        --------
        >>> p = argparse.ArgumentParser()
        >>> TrainerOptions.add_args(p, skip=("fusion",))
        >>> p.parse_args(["--conv-gemm", "all"]).conv_gemm
        'all'
        """
        group = parser.add_argument_group("trainer options", "how the runs train (not part of a run's identity)")
        for f in fields(cls):
            if f.name in skip:
                continue
            flag, md = "--" + f.name.replace("_", "-"), f.metadata
            if f.default is False:
                group.add_argument(flag, action="store_true", help=md["help"])
                continue
            kw = {"default": f.default, "help": md["help"]}
            if md["metavar"] is not None:
                kw["metavar"] = md["metavar"]
            if md["choices"] is not None and f.name not in checked_later:
                kw["choices"] = md["choices"]
            group.add_argument(flag, **kw)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "TrainerOptions":
        """The options parsed by a parser :meth:`add_args` declared them in (a skipped field: its default).

        Parameters
        ----------
        args : argparse.Namespace
            The parsed command line.

        Returns
        -------
        TrainerOptions

        Examples
        --------
        >>> TrainerOptions.from_args(argparse.Namespace(conv_gemm="all")).conv_gemm
        'all'
        """
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)})

    @classmethod
    def pop_from(cls, options: "TrainerOptions | None", kw: MutableMapping) -> "TrainerOptions":
        """``options`` (default: the defaults) with the fields given as loose keyword arguments in ``kw``
        (removed from it) in their place: the older keyword form of the functions that take ``options``.

        Parameters
        ----------
        options : TrainerOptions or None
            The options passed as one object.
        kw : mutable mapping
            Keyword arguments; the ones named like a field are taken out.

        Returns
        -------
        TrainerOptions

        Examples
        --------
        >>> kw = {"fusion": "off", "amp": False}
        >>> TrainerOptions.pop_from(None, kw).fusion, kw
        ('off', {'amp': False})
        """
        given = {f.name: kw.pop(f.name) for f in fields(cls) if f.name in kw}
        return replace(options if options is not None else cls(), **given)

    def fused_kw(self) -> dict:
        """The fused trainer's own keyword arguments that are not at their defaults (``compile_mode``,
        ``conv_gemm``, ``weight_copies``): what ``fusion="auto"`` times and the fused runs train with.

        Returns
        -------
        dict

        Examples
        --------
        >>> TrainerOptions(fused_compile="default").fused_kw()
        {'compile_mode': 'default'}
        """
        return {**({"compile_mode": self.fused_compile} if self.fused_compile else {}),
                **({"conv_gemm": self.conv_gemm} if self.conv_gemm != "off" else {}),
                **({"weight_copies": True} if self.weight_copies else {})}

    def common_kw(self) -> dict:
        """Both trainers' keyword arguments that are not at their defaults (``sgd_kernel``).

        Returns
        -------
        dict

        Examples
        --------
        >>> TrainerOptions().common_kw()
        {}
        """
        return {"sgd_kernel": self.sgd_kernel} if self.sgd_kernel != "foreach" else {}

    def flag_error(self, *, fusion_flag: bool = True) -> str | None:
        """The first combination of the command-line flags that cannot train, as one line naming the flags
        (``None`` when they can): an unknown ``--fused-compile``, a fused trainers' option with
        ``--fusion off``, ``--weight-copies`` without ``--sgd-kernel triton``. Whether the SGD kernel runs on
        the device is checked where the runs train.

        Parameters
        ----------
        fusion_flag : bool
            Whether the command has ``--fusion`` (``dnn.bench_train`` has not: it names its trainers itself).

        Returns
        -------
        str or None

        Examples
        --------
        >>> TrainerOptions(conv_gemm="strided", fusion="off").flag_error()
        "--conv-gemm strided changes the fused trainers' convolutions: it needs --fusion on or auto, got off"
        >>> TrainerOptions(weight_copies=True).flag_error(fusion_flag=False)
        '--weight-copies needs --sgd-kernel triton, got --sgd-kernel foreach'
        """
        off = fusion_flag and self.fusion == "off"
        if self.fused_compile is not None:
            try:
                check_compile_mode(self.fused_compile, "--fused-compile")
            except ValueError as e:
                return str(e)
            if off:
                return "--fused-compile compiles the fused trainers' step: it needs --fusion on or auto, got off"
        if self.conv_gemm != "off" and off:
            return (f"--conv-gemm {self.conv_gemm} changes the fused trainers' convolutions: it needs --fusion on or "
                    "auto, got off")
        if self.weight_copies and (self.sgd_kernel != "triton" or off):
            if not fusion_flag:
                return f"--weight-copies needs --sgd-kernel triton, got --sgd-kernel {self.sgd_kernel}"
            return (f"--weight-copies needs --sgd-kernel triton and --fusion on or auto, got --sgd-kernel "
                    f"{self.sgd_kernel} --fusion {self.fusion}")
        return None
