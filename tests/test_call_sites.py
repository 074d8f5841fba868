"""Reach in popoto's own code: the calls a new default reaches, and those passing their own value.

On the installed popoto 1.10.1 (issue 23): ``ContextAssembler`` passes ``decay_per_hop=0.5``
itself at four places and ``graph_traversal.traverse`` defaults it to 0.5, so a new
``CO_OCCURRENCE_DECAY_PER_HOP`` reaches none of them; nothing in popoto calls
``CoOccurrenceField.strengthen``, so a new ``delta`` reaches only users' calls. A small made-up
package pins the scan's rules (keywords, positions, ``as`` imports, constructors, forwarding).
"""

from __future__ import annotations

import json
import textwrap

from tuner.catalog import load_catalog
from tuner.catalog.model import Constant
from tuner.export.call_sites import Source, reach_of, scan_reach

CATALOG = load_catalog()


def test_decay_per_hop_lists_the_four_context_assembler_sites_and_graph_traversal():
    reach = scan_reach([CATALOG.resolve("decay_per_hop")])["decay_per_hop"]
    sites = {(o.file, o.line, o.value, o.kind) for o in reach.own_values}
    assert sites == {
        ("recipes/context_assembler.py", 2591, "0.5", "call"),
        ("recipes/context_assembler.py", 2602, "0.5", "call"),
        ("recipes/context_assembler.py", 2786, "0.5", "call"),
        ("recipes/context_assembler.py", 2796, "0.5", "call"),
        ("recipes/graph_traversal.py", 352, "0.5", "default"),
        ("recipes/graph_traversal.py", 412, "decay_per_hop", "call")}
    (propagate,) = reach.functions
    assert (propagate.function, propagate.param, propagate.calls, propagate.without) == (
        "CoOccurrenceField.propagate", "decay_per_hop", 3, 0)


def test_delta_is_not_called_inside_popoto():
    reach = scan_reach([CATALOG.resolve("delta")])["delta"]
    assert reach.not_called == ["CoOccurrenceField.strengthen"]
    assert reach.short() == "not called inside popoto"
    assert reach.own_values == []


def test_constants_json_and_table_carry_the_reach(run):
    rows = {r["name"]: r for r in json.loads(run("constants", "--tier", "2", "--json").output)}
    assert rows["delta"]["popoto_calls"]["summary"] == "not called inside popoto"
    assert "recipes/context_assembler.py:2591 traverse(decay_per_hop=0.5)" in \
        rows["decay_per_hop"]["popoto_calls"]["sites"]
    table = run("constants", "--tier", "2").output
    assert "popoto calls" in table.splitlines()[0]
    assert "not called inside popoto" in next(line for line in table.splitlines()
                                              if line.startswith("delta "))


def test_the_scan_rules_on_a_made_up_package(tmp_path):
    package = tmp_path / "popoto"
    (package / "fields").mkdir(parents=True)
    (package / "fields" / "constants.py").write_text("class Defaults:\n    HOP = 0.5\n")
    (package / "fields" / "graph.py").write_text(textwrap.dedent('''
        from .constants import Defaults
        _UNSET = object()

        class Graph:
            def __init__(self, hop=None):
                self.hop = hop if hop is not None else Defaults.HOP

            def walk(self, seeds, hop=_UNSET, depth=2):
                if hop is _UNSET:
                    hop = Defaults.HOP
                return hop
    '''))
    (package / "recipes.py").write_text(textwrap.dedent('''
        from .fields.graph import Graph as G

        def wrapper(graph, hop=0.25):
            return graph.walk([], hop=hop)

        def users():
            graph = G(0.7)
            G()
            graph.walk([], 0.9)
            graph.walk([])
            wrapper(graph)
            wrapper(graph, hop=0.1)
    '''))
    hop = Constant(name="hop", attr="HOP", tier=1, mode="C", owner="", family="decay",
                   low=0.1, high=0.9)
    reach = reach_of(hop, Source.scan(package))
    assert {(f.function, f.param, f.calls, f.without) for f in reach.functions} == {
        ("Graph.__init__", "hop", 2, 1), ("Graph.walk", "hop", 3, 1)}
    assert sorted(reach.sites()) == [
        "recipes.py:10 walk(hop=0.9)",
        "recipes.py:13 wrapper(hop=0.1)",
        "recipes.py:4 wrapper(hop=0.25) (its own default)",
        "recipes.py:5 walk(hop=hop)",
        "recipes.py:8 Graph(hop=0.7)"]
