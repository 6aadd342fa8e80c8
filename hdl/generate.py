"""Verilog generation: the array, GEMM, accelerator or attention-tile top with one PE module,
a manifest, a filelist and a FuseSoC core for FPGA and simulation flows.

Every module of a generated file starts with the file's name (its top module): the top is
``<name>``, its submodules are ``<name>_<path>`` (``<name>_result_fifo``) and the one PE
definition, instantiated ``rows × cols`` times, is ``<name>_pe``. Two configurations, or an
array and a GEMM top, can therefore be read into one design side by side.
"""

import json
import re
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Shape
from amaranth.lib import data, wiring

from golden.errors import UsageValueError, check_choice, check_int
from hdl.arith import arithmetic_for
from hdl.arith.ecp5_mac import simulation_sources
from hdl.array import SystolicArray
from hdl.array.array import pe_module_names
from hdl.array.pe import ProcessingElement, pe_signature

GENERATOR_VERSION = "0.1.0"
#: Top-level designs :func:`generate` writes: the bare array, the array with its
#: accumulator SRAM (:class:`~hdl.array.gemm.SystolicGemm`), or the whole AXI accelerator
#: (:class:`~hdl.accel.Accelerator`), or the quantised attention tile
#: (:class:`~hdl.attention.tile.AttentionTile`).
TOPS = ("array", "gemm", "accel", "attention")
#: Generator parameters of the attention top, in manifest order, and their defaults
#: (``rows`` and ``cols`` come from the configuration when not given).
ATTENTION_DEFAULTS = {
    "rows": None,
    "cols": None,
    "max_lq": 128,
    "max_lk": 512,
    "max_d": 128,
    "max_dv": 128,
    "max_lk_total": None,
    "p_bits": 8,
    "reciprocal_units": 2,
}
#: Module names of the simulator and synthesis builds (one configuration per build folder).
ARRAY_TOP = "systolic_array"
PE_TOP = "systolix_pe"
GEMM_TOP = "systolix_gemm"
ACCEL_TOP = "systolix_accel"
ATTENTION_TOP = "systolix_attention"
#: Accumulator SRAM rows of a GEMM top, as :class:`~hdl.array.accumulator.FoldAccumulator`
#: allows them.
MAX_ACC_ROWS = 65536

#: Verilator ``-Wall`` waivers of the generated Verilog, written into the ``.core`` file's lint
#: target (README, "Lint"; the same set as ``tb.verilator.LINT_WALL_WAIVERS``).
LINT_WALL_WAIVERS = (
    "-Wno-WIDTHEXPAND",
    "-Wno-WIDTHTRUNC",
    "-Wno-CASEINCOMPLETE",
    "-Wno-DECLFILENAME",
    "-Wno-PROCASSINIT",
    "-Wno-UNUSEDSIGNAL",
)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MODULE = re.compile(r"^module\s+(\S+?)\s*\(([^)]*)\)", re.M)


def default_name(config, top="array"):
    """Default top module name and module prefix: ``systolix_<config id>``, plus ``_gemm`` for
    the GEMM top (``systolix_r8c8_int8``, ``systolix_r8c8_e4m3_gemm``)."""
    name = "systolix_" + config.id.replace("-", "_")
    return name if top == "array" else f"{name}_{top}"


def check_name(name):
    """``name`` if it is a plain Verilog identifier, else a
    :class:`~golden.errors.UsageValueError` naming ``name``."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise UsageValueError(
            "name must be a Verilog identifier (a letter or _, then letters, digits or _), "
            f"got {name!r}",
            parameter="name",
        )
    return name


def check_top(top, acc_rows):
    """Check a top level and its accumulator depth; return ``acc_rows`` as an ``int`` (or
    ``None`` for the array).

    Raises
    ------
    golden.errors.UsageError
        If ``top`` is not one of :data:`TOPS`, ``acc_rows`` is missing for ``gemm``, given for
        ``array``, or outside 1 to :data:`MAX_ACC_ROWS`.
    """
    check_choice("top", top, TOPS)
    if top != "gemm":
        if acc_rows is not None:
            why = {
                "accel": " (the accelerator sizes its accumulator from the tiles)",
                "attention": " (the tile sizes its accumulator from max_lq, max_lk and max_dv)",
            }.get(top, "")
            raise UsageValueError(
                f"acc_rows applies to the gemm top only, got {acc_rows!r} for the {top} top{why}",
                parameter="acc_rows",
            )
        return None
    if acc_rows is None:
        raise UsageValueError(
            "acc_rows is required for the gemm top (accumulator SRAM rows, the largest M of "
            f"a fold, 1 to {MAX_ACC_ROWS})",
            parameter="acc_rows",
        )
    return check_int("acc_rows", acc_rows, 1, MAX_ACC_ROWS)


def module_names(verilog_text):
    """Names of the modules defined in ``verilog_text``, in order."""
    return [match.group(1) for match in _MODULE.finditer(verilog_text)]


def _module_ports(verilog_text, module):
    for match in _MODULE.finditer(verilog_text):
        if match.group(1) == module:
            return {p.strip() for p in match.group(2).split(",") if p.strip()}
    raise ValueError(f"module {module!r} not found in the generated Verilog")


def _plain_module_names(verilog_text, top):
    """Amaranth names a submodule by its hierarchy, ``\\top.array.result_fifo``, an escaped
    identifier; rename each to ``top_array_result_fifo`` so that every module name is a plain
    identifier that starts with the top's name."""
    pattern = re.compile(r"\\" + re.escape(top) + r"\.(\S+)")
    text = pattern.sub(lambda m: f"{top}_{m.group(1).replace('.', '_')}", verilog_text)
    for name in module_names(text):
        if not _IDENTIFIER.fullmatch(name):
            raise RuntimeError(f"generated module name {name!r} is not a plain identifier")
    return text


_ZERO_WIDTH = re.compile(r"^[ \t]*(?:wire|reg)[ \t]+\[-1:0\][ \t]+(\S+);[ \t]*\n", re.M)


def _without_zero_width(verilog_text):
    """Drop the declarations Amaranth writes for zero-width signals (``wire [-1:0] x;``, a
    loop counter over one value, say): Verilog has no zero-width vector, and Verilator warns
    about the reversed range. Amaranth never reads or drives them; a use would be a bug."""
    modules = re.split(r"(?m)^(?=module\s)", verilog_text)
    out = []
    for module in modules:
        names = _ZERO_WIDTH.findall(module)
        module = _ZERO_WIDTH.sub("", module)
        for name in names:
            if re.search(r"(?<![\w$])" + re.escape(name) + r"(?![\w$])", module):
                raise RuntimeError(f"zero-width signal {name!r} is used in the generated Verilog")
        out.append(module)
    return "".join(out)


def _convert(component, name, ports=None):
    """Verilog of ``component`` as module ``name``, submodules renamed, no ``src`` or
    Amaranth-internal attributes (one ``top`` attribute per file would clash between files).
    ``ports`` overrides Amaranth's port names (:func:`hdl.bus.axi.verilog_ports`)."""
    text = verilog.convert(
        component, name=name, ports=ports, emit_src=False, strip_internal_attrs=True
    )
    return _without_zero_width(_plain_module_names(text, name))


def _without_banner(verilog_text):
    """The text without Amaranth's leading ``/* Generated by … */`` line."""
    first, _, rest = verilog_text.partition("\n")
    return rest.lstrip("\n") if first.startswith("/* Generated by") else verilog_text


def pe_verilog(config, name=PE_TOP, multiplier=None):
    """Verilog text of one :class:`~hdl.array.pe.ProcessingElement` of ``config``, as module
    ``name`` (its MAC is ``<name>_mac``); ``multiplier`` picks a PE kind of an ``auto``
    configuration (default: the first PE's)."""
    return _convert(ProcessingElement(arith=arithmetic_for(config, multiplier)), name)


def _top_component(config, top, pe_module, acc_rows, frontend, attention, attention_unit):
    acc_rows = check_top(top, acc_rows)
    if attention is not None and top != "attention":
        raise UsageValueError(
            f"attention applies to the attention top only, got it for the {top} top",
            parameter="attention",
        )
    if top == "attention":
        from hdl.attention.tile import AttentionTile

        return AttentionTile(**attention_params(attention or {}, config), pe_module=pe_module)
    if top == "array":
        return SystolicArray(config, pe_module=pe_module)
    if attention_unit is not None and top != "accel":
        raise UsageValueError(
            f"attention_unit applies to the accel top only, got it for the {top} top",
            parameter="attention_unit",
        )
    if top == "accel":
        from hdl.accel import Accelerator

        return Accelerator(
            config,
            frontend,
            pe_module=pe_module,
            attention=attention_unit,
            attention_pe_module=None if attention_unit is None else f"{pe_module}_att",
        )
    from hdl.array.gemm import SystolicGemm

    return SystolicGemm(config, acc_rows=acc_rows, pe_module=pe_module)


def design_verilog(
    config, *, top="array", name, acc_rows=None, frontend=None, attention=None, attention_unit=None
):
    """The component and Verilog text of a top-level design with one shared PE module.

    Parameters
    ----------
    config : ArrayConfig
    top : str
        One of :data:`TOPS`.
    name : str
        Top module name; every other module is ``<name>_…``.
    acc_rows : int or None
        Accumulator SRAM rows, 1 to :data:`MAX_ACC_ROWS`; ``gemm`` only.
    frontend : golden.frontend.FrontendConfig or None
        Bus and tiles of the ``accel`` top (``None``: the defaults).
    attention : mapping or None
        Generator parameters of the ``attention`` top (:func:`attention_params`; ``rows`` and
        ``cols`` default to ``config``'s, which may then be ``None``). Its PE is that of the
        tile's own array (:attr:`~hdl.attention.tile.AttentionTile.config`).
    attention_unit : golden.descriptor.AttentionConfig or None
        The ``accel`` top's attention unit; its array's PE is a second module
        ``<name>_pe_att``.

    Returns
    -------
    (component, str)
        The top component (for its ports and ``latency``) and the Verilog: the top and its
        submodules, then the PE module ``<name>_pe`` and its MAC.

    Raises
    ------
    golden.errors.UsageError
        On a bad ``top``, ``name`` or ``acc_rows`` (:func:`check_top`, :func:`check_name`).
    RuntimeError
        If two modules would share a name or the PE module's ports differ from the ports the
        array connects (a generator bug, not a user error).
    """
    check_name(name)
    pe_name = f"{name}_pe"
    component = _top_component(config, top, pe_name, acc_rows, frontend, attention, attention_unit)
    if top == "attention":
        config = component.config
    ports = None
    if top == "accel":
        from hdl.bus.axi import verilog_ports

        ports = verilog_ports(component)
    text = _with_pe_modules(config, _convert(component, name, ports), pe_name)
    if attention_unit is not None:
        text = _with_pe_modules(component.attention_array_config(), text, f"{pe_name}_att")
    return component, text


def _with_pe_modules(config, top_text, pe_name):
    """``top_text`` followed by the PE module ``pe_name`` of ``config`` (and an ``auto``
    array's other PE kind), checked for the ports the array connects and unique names."""
    pe_text = pe_verilog(config, pe_name)
    # The array connects the flattened PE signature (hdl.array.array.pe_instance); the PE
    # module must have exactly those ports, or the instances would be left unconnected.
    members = pe_signature(arithmetic_for(config)).members.flatten()
    expected = {"clk", "rst"} | {"__".join(map(str, path)) for path, _member in members}
    actual = _module_ports(pe_text, pe_name)
    if actual != expected:
        raise RuntimeError(f"PE module ports {sorted(actual)} differ from {sorted(expected)}")
    text = top_text.rstrip("\n") + "\n\n" + _without_banner(pe_text)
    # An auto array's other PE kind is a second module with the same ports.
    for kind, module in list(pe_module_names(config, pe_name).items())[1:]:
        kind_text = pe_verilog(config, module, kind)
        if _module_ports(kind_text, module) != expected:
            raise RuntimeError(f"PE module {module} ports differ from {sorted(expected)}")
        text = text.rstrip("\n") + "\n\n" + _without_banner(kind_text)
    names = module_names(text)
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise RuntimeError(f"module names defined twice: {', '.join(clashes)}")
    return text


def array_verilog(config, name=ARRAY_TOP):
    """Verilog text of the :class:`~hdl.array.SystolicArray` for ``config``: module ``name``
    with one PE module instantiated ``rows × cols`` times (see :func:`design_verilog`)."""
    return design_verilog(config, top="array", name=name)[1]


def attention_params(params, config=None):
    """All generator parameters of the attention top (:data:`ATTENTION_DEFAULTS` order), from
    ``params`` (a mapping of some of them; ``None`` values take the default) and the defaults;
    ``rows`` and ``cols`` default to ``config``'s. Each is checked as
    :class:`~hdl.attention.tile.AttentionTile` checks it.

    Raises
    ------
    golden.errors.UsageError
        Naming the parameter: an unknown one, or a value the tile refuses.
    """
    from golden.attention import P_BITS
    from hdl.attention.softmax import LK_MAX
    from hdl.attention.tile import MAX_TILE_DIM, MAX_TILE_LK, check_tile_array

    unknown = sorted(set(params) - set(ATTENTION_DEFAULTS))
    if unknown:
        raise UsageValueError(
            f"{unknown[0]} is not an attention parameter (one of {', '.join(ATTENTION_DEFAULTS)})",
            parameter=unknown[0],
        )
    full = {**ATTENTION_DEFAULTS, **{k: v for k, v in params.items() if v is not None}}
    for key in ("rows", "cols"):
        if full[key] is None:
            if config is None:
                raise UsageValueError(f"{key} is required for the attention top", parameter=key)
            full[key] = getattr(config, key)
    # The tile's own checks, without building one (a half-built component warns when freed).
    full["rows"], full["cols"] = check_tile_array(full["rows"], full["cols"])
    for key in ("max_lq", "max_d", "max_dv"):
        full[key] = check_int(key, full[key], 1, MAX_TILE_DIM)
    full["max_lk"] = check_int("max_lk", full["max_lk"], 1, MAX_TILE_LK)
    total = full["max_lk"] if full["max_lk_total"] is None else full["max_lk_total"]
    full["max_lk_total"] = check_int("max_lk_total", total, full["max_lk"], LK_MAX)
    full["p_bits"] = check_choice("p_bits", full["p_bits"], P_BITS)
    full["reciprocal_units"] = check_int("reciprocal_units", full["reciprocal_units"], 1, 8)
    return full


def attention_name(params):
    """Default top module name of an attention tile: ``systolix_attention_r<R>c<C>_lq…_lk…_d…
    _dv…``, plus ``_lkt<max_lk_total>``, ``_p16`` and ``_u<reciprocal_units>`` where they
    differ from the defaults."""
    p = params
    name = f"systolix_attention_r{p['rows']}c{p['cols']}_lq{p['max_lq']}_lk{p['max_lk']}"
    name += f"_d{p['max_d']}_dv{p['max_dv']}"
    if p["max_lk_total"] != p["max_lk"]:
        name += f"_lkt{p['max_lk_total']}"
    if p["p_bits"] != ATTENTION_DEFAULTS["p_bits"]:
        name += f"_p{p['p_bits']}"
    if p["reciprocal_units"] != ATTENTION_DEFAULTS["reciprocal_units"]:
        name += f"_u{p['reciprocal_units']}"
    return name


def attention_design(*, name=ATTENTION_TOP, **params):
    """The :class:`~hdl.attention.tile.AttentionTile` of ``params`` (:func:`attention_params`;
    ``rows`` and ``cols`` required) and its Verilog: module ``name``, its submodules
    ``<name>_…`` and one PE module ``<name>_pe`` instantiated ``rows × cols`` times.

    Returns
    -------
    (AttentionTile, str)
    """
    return design_verilog(None, top="attention", name=name, attention=params)


def attention_verilog(*, name=ATTENTION_TOP, **params):
    """Verilog text of the attention tile of ``params`` (see :func:`attention_design`)."""
    return attention_design(name=name, **params)[1]


def gemm_verilog(config, *, acc_rows, name=GEMM_TOP):
    """Verilog text of :class:`~hdl.array.gemm.SystolicGemm` (array + accumulator SRAM)."""
    return design_verilog(config, top="gemm", name=name, acc_rows=acc_rows)[1]


def accel_verilog(config, frontend=None, *, name=ACCEL_TOP, attention=None):
    """Verilog text of the :class:`~hdl.accel.Accelerator` for ``config`` and ``frontend``,
    with the attention unit ``attention`` (a :class:`~golden.descriptor.AttentionConfig`)."""
    return design_verilog(
        config, top="accel", name=name, frontend=frontend, attention_unit=attention
    )[1]


def port_list(component, *, separator="__"):
    """``[(verilog_name, direction, width), …]`` of a component's signature, clk/rst first;
    member paths joined by ``separator`` (``_`` for the accelerator's AXI port names)."""
    ports = [("clk", "input", 1), ("rst", "input", 1)]
    for path, member, _value in component.signature.flatten(component):
        name = separator.join(str(p) for p in path)
        direction = "input" if member.flow == wiring.In else "output"
        ports.append((name, direction, Shape.cast(member.shape).width))
    return ports


def _layout_fields(layout):
    """``[{name, offset, width, signed[, lanes, lane_width]}, …]`` of a struct layout's fields,
    bit offsets from the payload's LSB."""
    fields = []
    for field_name, field in layout:
        entry = {
            "name": field_name,
            "offset": field.offset,
            "width": field.width,
            "signed": Shape.cast(field.shape).signed,
        }
        if isinstance(field.shape, data.ArrayLayout):
            elem = Shape.cast(field.shape.elem_shape)
            entry.update(signed=elem.signed, lanes=field.shape.length, lane_width=elem.width)
        fields.append(entry)
    return fields


def payload_layouts(component):
    """``{port: description}`` of the stream payloads of ``component`` that have a layout: a
    struct's ``fields`` (:func:`_layout_fields`) or an array's ``lanes``, ``lane_width`` and
    ``signed`` (lane i at bits ``i·lane_width`` up). Port names as :func:`port_list` gives."""
    out = {}
    for path, member, _value in component.signature.flatten(component):
        shape = member.shape
        port = "__".join(str(p) for p in path)
        if isinstance(shape, data.StructLayout):
            out[port] = {"fields": _layout_fields(shape)}
        elif isinstance(shape, data.ArrayLayout):
            elem = Shape.cast(shape.elem_shape)
            out[port] = {"lanes": shape.length, "lane_width": elem.width, "signed": elem.signed}
    return out


def core_vlnv(name):
    """FuseSoC VLNV of a generated design: ``systolix:gen:<name>:<generator version>``."""
    return f"systolix:gen:{name}:{GENERATOR_VERSION}"


def fusesoc_core(name, verilog_file, description, sim_files=()):
    """Text of a FuseSoC CAPI2 ``.core`` file for one generated Verilog file.

    Targets: ``default`` (the fileset and ``toplevel``, for any flow that uses this core),
    ``lint`` (``verilator --lint-only -Wall`` with :data:`LINT_WALL_WAIVERS`) and ``sim`` (the
    design for a Verilator simulation). ``sim_files`` are simulation-only models (the ECP5
    ``MULT18X18D``): a ``sim_models`` fileset that ``lint`` and ``sim`` use and ``default``
    does not, so synthesis keeps the vendor cell.
    """

    def q(text):  # a JSON string is a YAML double-quoted scalar
        return json.dumps(text)

    waivers = ", ".join(q(w) for w in ("-Wall", *LINT_WALL_WAIVERS))
    filesets = "[rtl, sim_models]" if sim_files else "[rtl]"
    models = ""
    if sim_files:
        models = (
            "  sim_models:\n"
            "    file_type: verilogSource\n"
            "    files:\n" + "".join(f"      - {q(f)}\n" for f in sim_files) + "\n"
        )
    return (
        "CAPI=2:\n"
        f"name: {q(core_vlnv(name))}\n"
        f"description: {q(description)}\n"
        "\n"
        "filesets:\n"
        "  rtl:\n"
        "    file_type: verilogSource\n"
        "    files:\n"
        f"      - {q(verilog_file)}\n"
        "\n"
        f"{models}"
        "targets:\n"
        "  default:\n"
        "    filesets: [rtl]\n"
        f"    toplevel: {q(name)}\n"
        "  lint:\n"
        "    default_tool: verilator\n"
        f"    filesets: {filesets}\n"
        f"    toplevel: {q(name)}\n"
        "    tools:\n"
        "      verilator:\n"
        "        mode: lint-only\n"
        f"        verilator_options: [{waivers}]\n"
        "  sim:\n"
        "    default_tool: verilator\n"
        f"    filesets: {filesets}\n"
        f"    toplevel: {q(name)}\n"
    )


def generate(
    config,
    out_dir,
    *,
    top="array",
    name=None,
    acc_rows=None,
    frontend=None,
    attention=None,
    attention_unit=None,
):
    """Write a top-level design of ``config`` and the files a project needs to use it.

    Files in ``out_dir`` (created if missing): ``<name>.v`` (the top, its submodules and one
    PE module, Verilog-2001), ``manifest.json`` (generator version, configuration, top,
    module names, ports with direction and width, latency), ``filelist.f`` and ``<name>.core``
    (FuseSoC CAPI2, VLNV :func:`core_vlnv`).

    Parameters
    ----------
    config : ArrayConfig or None
        ``None`` only for the ``attention`` top with ``rows`` and ``cols`` in ``attention``.
    out_dir : path
    top : str
        One of :data:`TOPS`: ``array`` (:class:`~hdl.array.SystolicArray`), ``gemm``
        (:class:`~hdl.array.gemm.SystolicGemm`), ``accel`` (:class:`~hdl.accel.Accelerator`)
        or ``attention`` (:class:`~hdl.attention.tile.AttentionTile`).
    name : str or None
        Top module name and prefix of every module in the file; ``None`` gives
        :func:`default_name` (:func:`attention_name` for the attention top).
    acc_rows : int or None
        Accumulator SRAM rows (largest M per fold), 1 to :data:`MAX_ACC_ROWS`: required for
        ``gemm``, not allowed for ``array`` and ``accel``.
    frontend : golden.frontend.FrontendConfig or None
        Bus and tiles of the ``accel`` top (``None``: the defaults). The accelerator also gets
        ``<name>_regs.h`` (the register map as C macros) and its manifest lists the registers.
    attention : mapping or None
        Generator parameters of the ``attention`` top (:func:`attention_params`: ``rows``,
        ``cols``, ``max_lq``, ``max_lk``, ``max_d``, ``max_dv``, ``max_lk_total``, ``p_bits``,
        ``reciprocal_units``; ``rows`` and ``cols`` default to ``config``'s). Its manifest lists
        them under ``parameters``, and the field layout of each structured stream payload
        (``params``, ``o``; lanes of ``q``, ``k``, ``v``) under ``payload_layouts``; its
        ``config`` is the tile's INT8 array.
    attention_unit : golden.descriptor.AttentionConfig or None
        The ``accel`` top's attention unit (ATTENTION descriptors); listed in the manifest
        under ``attention_unit`` (``null`` without one).

    Returns
    -------
    Path
        The Verilog file.
    """
    acc_rows = check_top(top, acc_rows)
    if frontend is not None and top != "accel":
        raise UsageValueError(
            f"frontend applies to the accel top only, got it for the {top} top",
            parameter="frontend",
        )
    if top == "attention":
        attention = attention_params(attention or {}, config)
        default = attention_name(attention)
    else:
        default = default_name(config, top) if name is None else None
    name = default if name is None else check_name(name)
    component, text = design_verilog(
        config,
        top=top,
        name=name,
        acc_rows=acc_rows,
        frontend=frontend,
        attention=attention,
        attention_unit=attention_unit,
    )
    if top == "attention":
        config = component.config

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    verilog_path = out / f"{name}.v"
    verilog_path.write_text(text)
    core_path = out / f"{name}.core"
    description = f"systolix {config.id} {top} top, generated by systolix {GENERATOR_VERSION}"
    sim_sources = simulation_sources(config)
    sim_files = [Path(source).name for source in sim_sources]
    core_path.write_text(fusesoc_core(name, verilog_path.name, description, sim_files))
    manifest = {
        "generator": "systolix",
        "generator_version": GENERATOR_VERSION,
        "top_kind": top,
        "top": name,
        "config": config.to_dict(),
        "config_id": config.id,
        "acc_rows": acc_rows,
        "modules": module_names(text),
        "files": [verilog_path.name],
        "core": {"file": core_path.name, "vlnv": core_vlnv(name)},
    }
    if top == "accel":
        from dataclasses import asdict

        from hdl.ctrl.regs import REGS
        from hdl.ctrl.regs_text import c_header

        header_path = out / f"{name}_regs.h"
        header_path.write_text(c_header())
        manifest["frontend"] = asdict(component.frontend_config)
        unit = component.attention
        manifest["attention_unit"] = None if unit is None else asdict(unit)
        manifest["max_dim"] = component.max_dim
        manifest["hwcfg"] = {k: f"{v:#010x}" for k, v in component.hwcfg.items()}
        manifest["ports"] = [
            {"name": n, "direction": d, "width": w}
            for n, d, w in port_list(component, separator="_")
        ]
        manifest["registers"] = [
            {"name": reg.name, "offset": f"{reg.offset:#05x}", "access": reg.access.value}
            for reg in REGS
        ]
        manifest["c_header"] = header_path.name
    elif top == "attention":
        manifest["parameters"] = attention
        manifest["ports"] = [
            {"name": n, "direction": d, "width": w} for n, d, w in port_list(component)
        ]
        manifest["payload_layouts"] = payload_layouts(component)
    else:
        manifest["latency"] = component.latency
        manifest["ports"] = [
            {"name": n, "direction": d, "width": w} for n, d, w in port_list(component)
        ]
    # Multiplier of every PE; simulation-only models (the ECP5 MULT18X18D) are copied beside
    # the design and listed in filelist_sim.f, never in filelist.f: synthesis uses the cell.
    manifest["pe_multipliers"] = [list(row) for row in config.pe_multipliers]
    for source in sim_sources:
        (out / Path(source).name).write_text(Path(source).read_text())
    manifest["simulation_only_files"] = sim_files
    if sim_files:
        (out / "filelist_sim.f").write_text(
            "".join(f"{f}\n" for f in sim_files + [verilog_path.name])
        )
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (out / "filelist.f").write_text(f"{verilog_path.name}\n")
    return verilog_path
