"""The safe expression language: what it evaluates, what it refuses, and how it fails."""

from __future__ import annotations

import ast
import re
import tracemalloc
from pathlib import Path
from typing import Any, Iterator, Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.kernel import expressions
from engine.errors import ExpressionError, InvalidInput
from engine.kernel.expressions import ALLOWED_FUNCTIONS, CompiledExpression, check, compile_expression, evaluate

CHINESE = re.compile(r"[\u4e00-\u9fff]")


class Tripwire(Mapping[str, Any]):
    """Process data that records every variable the evaluator reads."""

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        self.stored = dict(values or {})
        self.reads: list[str] = []

    def __getitem__(self, key: str) -> Any:
        self.reads.append(key)
        return self.stored[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.stored)

    def __len__(self) -> int:
        return len(self.stored)


def raises_in_chinese(source: str, data: Mapping[str, Any] | None = None) -> ExpressionError:
    """Evaluate and return the ExpressionError it must raise, checking it is worded in Chinese."""
    with pytest.raises(ExpressionError) as caught:
        evaluate(source, data or {})
    assert CHINESE.search(caught.value.message), caught.value.message
    assert caught.value.expression == source
    return caught.value


# --- valid expressions ----------------------------------------------------------------------

SITE = {"site": {"voltage_kv": 110, "feeders": [{"name": "甲线"}, {"name": "乙线"}]}}


@pytest.mark.parametrize(
    ("source", "data", "expected"),
    [
        ("x is None or x > 3", {"x": None}, True),
        ("x is None or x > 3", {"x": 5}, True),
        ("x is None or x > 3", {"x": 2}, False),
        ("x is not None and x > 3", {"x": None}, False),
        ("1 < x <= 3", {"x": 3}, True),
        ("1 < x <= 3", {"x": 1}, False),
        ("1 < x <= 3", {"x": 4}, False),
        ("0 < x < 10 != x", {"x": 5}, True),
        ("site['voltage_kv']", SITE, 110),
        ("site['feeders'][1]['name']", SITE, "乙线"),
        ("site['feeders'][-1]['name'] == '乙线'", SITE, True),
        ("voltage_kv in (35, 110)", {"voltage_kv": 35}, True),
        ("voltage_kv in (35, 110)", {"voltage_kv": 10}, False),
        ("voltage_kv not in [35, 110]", {"voltage_kv": 10}, True),
        ("important_load or voltage_kv >= 35", {"important_load": False, "voltage_kv": 35}, True),
        ("important_load or voltage_kv >= 35", {"important_load": False, "voltage_kv": 10}, False),
        ("capacity_kva > 3000 and not dual_supply", {"capacity_kva": 4000, "dual_supply": False}, True),
        ("capacity_kva > 3000 and not dual_supply", {"capacity_kva": 4000, "dual_supply": True}, False),
        ("contact or '未填写'", {"contact": ""}, "未填写"),
        ("a and b and c", {"a": 1, "b": "", "c": 3}, ""),
        ("a or b or c", {"a": 0, "b": None, "c": 3}, 3),
        ("'高压' if voltage_kv >= 35 else '低压'", {"voltage_kv": 10}, "低压"),
        ("{'kind': 'new', 'phases': [1, 2 + 1], 'note': None}", {}, {"kind": "new", "phases": [1, 3], "note": None}),
        ("[capacity_kva, (1, 2), {3}]", {"capacity_kva": 630}, [630, (1, 2), {3}]),
        ("{}", {}, {}),
        ("()", {}, ()),
        ("7 // 2 + 7 % 3 - 7 / 2", {}, 3 + 1 - 3.5),
        ("-x + +y * 2", {"x": 3, "y": 4}, 5),
        ("'ab' * 3", {}, "ababab"),
        ("[0] * 3 + [1]", {}, [0, 0, 0, 1]),
        ("'甲' + name", {"name": "乙"}, "甲乙"),
        ("len(feeders) == 2", {"feeders": ["甲", "乙"]}, True),
        ("min(3, x) + max([1, 9, 4])", {"x": 2}, 11),
        ("abs(-5) + round(2.6) + round(3.14159, 2)", {}, 5 + 3 + 3.14),
        ("int('42') + float('0.5')", {}, 42.5),
        ("str(10) + str(None)", {}, "10None"),
        ("bool(0) or bool('x')", {}, True),
        ("sum([1, 2, 3.5]) + sum((1, 2), 10)", {}, 6.5 + 13),
        ("any([0, x]) and all([1, x])", {"x": 1}, True),
        ("sorted(values)", {"values": [3, 1, 2]}, [1, 2, 3]),
        ("True and not False and None is None", {}, True),
    ],
)
def test_valid_expression_evaluates_like_python(source: str, data: dict[str, Any], expected: Any) -> None:
    assert evaluate(source, data) == expected


def test_or_does_not_read_the_right_side_once_the_left_is_true() -> None:
    data = Tripwire({"important_load": True})
    assert evaluate("important_load or voltage_kv >= 35", data) is True
    assert data.reads == ["important_load"]


def test_and_does_not_read_the_right_side_once_the_left_is_false() -> None:
    data = Tripwire({"x": None})
    assert evaluate("x is not None and x > 3", data) is False
    assert data.reads == ["x"]


def test_conditional_expression_evaluates_only_the_chosen_branch() -> None:
    data = Tripwire({"flag": True, "a": 1})
    assert evaluate("a if flag else b", data) == 1
    assert "b" not in data.reads


def test_chained_comparison_reads_the_middle_operand_once() -> None:
    data = Tripwire({"x": 2})
    assert evaluate("1 < x <= 3", data) is True
    assert data.reads == ["x"]


def test_compiled_expression_lists_the_variables_it_reads_but_not_function_names() -> None:
    compiled = compile_expression("len(items) > limit and site['kv'] in allowed or max(a, 1)")
    assert compiled.names == frozenset({"items", "limit", "site", "allowed", "a"})


def test_compiled_expression_evaluates_again_with_new_data() -> None:
    compiled = compile_expression("capacity_kva > 3000 and not dual_supply")
    assert isinstance(compiled, CompiledExpression)
    assert compiled.evaluate({"capacity_kva": 4000, "dual_supply": False}) is True
    assert compiled.evaluate({"capacity_kva": 2000, "dual_supply": False}) is False


def test_surrounding_whitespace_and_newlines_are_accepted() -> None:
    assert evaluate("\n  x > 1\n", {"x": 2}) is True


def test_evaluate_reuses_the_compiled_form_of_a_repeated_source() -> None:
    source = "voltage_kv >= 35 and 'cached-marker' != ''"
    before = expressions._compile_cached.cache_info().hits
    evaluate(source, {"voltage_kv": 10})
    evaluate(source, {"voltage_kv": 110})
    assert expressions._compile_cached.cache_info().hits >= before + 1


def test_whitelist_is_exactly_the_documented_functions_and_read_only() -> None:
    assert set(ALLOWED_FUNCTIONS) == {
        "len", "min", "max", "abs", "round", "int", "float", "str", "bool", "sum", "any", "all", "sorted",
    }  # fmt: skip
    with pytest.raises(TypeError):
        ALLOWED_FUNCTIONS["open"] = open  # type: ignore[index]


def test_evaluator_module_never_calls_eval_exec_or_compile() -> None:
    tree = ast.parse(Path(expressions.__file__).read_text(encoding="utf-8"))
    called = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert not called & {"eval", "exec", "compile", "__import__", "getattr", "setattr"}


# --- hostile expressions --------------------------------------------------------------------

HOSTILE = [
    "().__class__.__bases__[0].__subclasses__()",
    "eval('1')",
    "exec('x=1')",
    "getattr(x, 'y')",
    "type(x)",
    "globals()",
    "[c for c in ()]",
    "{c for c in x}",
    "{c: 1 for c in x}",
    "sum(c for c in x)",
    "lambda: 1",
    "(lambda: 1)()",
    "x.y",
    "x.y()",
    "x.__class__",
    "_secret",
    "__builtins__",
    "len(_secret)",
    'f"{x}"',
    "(y := 1)",
    "2 ** 1000000",
    "'a' * 10**9",
    "x[1:2]",
    "x[::-1]",
    "[*x]",
    "len(*x)",
    "max(x, key=len)",
    "len(**x)",
    "{**x}",
    "x is 1",
    "x is not y",
    "~x",
    "x | 1",
    "x & 1",
    "x ^ 1",
    "x << 1",
    "x >> 1",
    "x @ x",
    "await x",
    "(yield x)",
    "b'bytes'",
    "1j",
    "...",
    "10000000000000000000",
]


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_expression_is_rejected_before_reading_any_data(source: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source)
    assert CHINESE.search(caught.value.message)
    assert caught.value.expression == source
    data = Tripwire({"x": [1, 2], "y": 1, "_secret": "s"})
    with pytest.raises(ExpressionError):
        evaluate(source, data)
    assert data.reads == []


@pytest.mark.parametrize(
    "template",
    [
        "__import__('os').system('touch {marker}')",
        "open('{marker}', 'w').write('x')",
        "open('{marker}', 'w')",
        "exec(\"open('{marker}', 'w')\")",
        "eval(\"__import__('os').system('touch {marker}')\")",
        "[open('{marker}', 'w') for _ in (1,)]",
        "(lambda: open('{marker}', 'w'))()",
        "x.__class__.__init__.__globals__['os'].system('touch {marker}')",
    ],
)
def test_hostile_expression_has_no_side_effect(template: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    source = template.format(marker=marker)
    with pytest.raises(ExpressionError):
        evaluate(source, {"x": 1})
    assert check(source)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("source", "construct"),
    [
        ("x.y", ".y"),
        ("open('f')", "open"),
        ("__import__('os')", "__import__"),
        ("_secret", "_secret"),
        ("2 ** 3", "**"),
        ("[c for c in x]", "推导式"),
        ("lambda: 1", "lambda"),
        ('f"{x}"', "f 字符串"),
        ("(y := 1)", ":="),
        ("x[1:2]", "切片"),
        ("len(x, key=1)", "key="),
        ("x is 1", "None"),
    ],
)
def test_rejection_message_names_the_construct(source: str, construct: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source)
    assert construct in caught.value.message


def test_expression_error_is_bad_input() -> None:
    with pytest.raises(InvalidInput):
        compile_expression("x.y")


# --- size and shape limits ------------------------------------------------------------------


def test_repeating_a_string_a_billion_times_fails_without_allocating() -> None:
    tracemalloc.start()
    try:
        raises_in_chinese("'a' * 1000000000")
        raises_in_chinese("1000000000 * [0]")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


def test_repetition_up_to_ten_thousand_items_is_allowed() -> None:
    assert len(evaluate("[0] * 10000", {})) == 10_000
    assert len(evaluate("'ab' * 5000", {})) == 10_000
    raises_in_chinese("[0] * 10001")
    raises_in_chinese("text * 3", {"text": "a" * 5000})


def test_repeating_a_large_nested_list_is_refused() -> None:
    error = raises_in_chinese("[[0] * 10000] * 10000")
    assert "重复" in error.message


def test_concatenation_longer_than_the_limit_is_refused() -> None:
    raises_in_chinese("s + s", {"s": "a" * 60_000})
    raises_in_chinese("items + items", {"items": [0] * 60_000})
    assert len(evaluate("s + s", {"s": "a" * 50_000})) == 100_000


def test_integers_are_bounded_after_each_step() -> None:
    assert evaluate("999999999999999999 + 1", {}) == 10**18
    raises_in_chinese("1000000000000000000 + 1")
    raises_in_chinese("x * x", {"x": 10**10})
    raises_in_chinese("-x * x", {"x": 10**10})
    raises_in_chinese("int(1e300)")
    raises_in_chinese("round(1e300)")
    raises_in_chinese("sum(values)", {"values": [10**18, 10**18]})


def test_string_formatting_with_percent_is_refused() -> None:
    error = raises_in_chinese("'%999999999d' % 1")
    assert "%" in error.message


def test_sum_refuses_to_concatenate_lists() -> None:
    raises_in_chinese("sum([[1], [2]], [])")
    raises_in_chinese("sum(['a', 'b'])")


def test_str_of_a_huge_structure_is_refused() -> None:
    raises_in_chinese("str(rows)", {"rows": [list(range(1000))] * 200})


def test_two_hundred_nested_parentheses_are_rejected() -> None:
    source = "(" * 200 + "x" + ")" * 200
    error = raises_in_chinese(source, Tripwire({"x": 1}))
    assert "嵌套" in error.message


@pytest.mark.parametrize(
    "source",
    ["-" * 200 + "1", "not " * 200 + "x", "[" * 60 + "]" * 60, "+".join(["1"] * 300)],
)
def test_deeply_nested_tree_is_rejected(source: str) -> None:
    error = raises_in_chinese(source, {"x": 1})
    assert "嵌套过深" in error.message


def test_depth_limit_is_fifty_nodes() -> None:
    assert evaluate("-" * 49 + "1", {}) == -1
    raises_in_chinese("-" * 50 + "1")


def test_expression_with_too_many_nodes_is_rejected() -> None:
    source = "[" + ", ".join(["1"] * 600) + "]"
    error = raises_in_chinese(source)
    assert "节点" in error.message


def test_source_longer_than_two_thousand_characters_is_rejected() -> None:
    at_limit = "'" + "a" * 1998 + "'"
    assert evaluate(at_limit, {}) == "a" * 1998
    raises_in_chinese("'" + "a" * 1999 + "'")
    long_source = " + ".join(["x"] * 1250)
    assert len(long_source) == 4997
    error = raises_in_chinese(long_source, {"x": 1})
    assert "过长" in error.message


@pytest.mark.parametrize("source", ["", "   ", "\n\t"])
def test_empty_expression_is_rejected(source: str) -> None:
    error = raises_in_chinese(source)
    assert "为空" in error.message


@pytest.mark.parametrize("source", ["x >", "a b", "import os", "x = 1", "(1", "if x: y"])
def test_syntax_error_is_reported_in_chinese_with_position(source: str) -> None:
    error = raises_in_chinese(source)
    assert error.message.startswith("表达式语法错误")
    assert "第 1 行" in error.message


def test_non_string_source_is_rejected() -> None:
    with pytest.raises(ExpressionError):
        evaluate(42, {})  # type: ignore[arg-type]
    assert check(42)  # type: ignore[arg-type]


# --- evaluation failures --------------------------------------------------------------------


def test_undefined_variable_is_named() -> None:
    error = raises_in_chinese("x > 1")
    assert error.message == "未定义的变量：x"


def test_missing_key_is_named() -> None:
    error = raises_in_chinese("site['transformer_kva']", SITE)
    assert "transformer_kva" in error.message


def test_index_out_of_range_is_named() -> None:
    error = raises_in_chinese("site['feeders'][5]", SITE)
    assert "5" in error.message


@pytest.mark.parametrize(
    "source",
    [
        "'a' < 1",
        "None + 1",
        "x > 3",
        "1 < x <= 3",
        "1 / 0",
        "1 // 0",
        "1 % 0",
        "1.5 // 0.0",
        "-'a'",
        "'a' - 'b'",
        "{} + {}",
        "len(5)",
        "int('abc')",
        "max([])",
        "sorted([1, 'a'])",
        "5[0]",
        "{'a': 1}[[1]]",
        "{[1]: 2}",
        "{[1], 2}",
        "1 in 'abc'",
    ],
)
def test_runtime_type_error_becomes_expression_error(source: str) -> None:
    raises_in_chinese(source, {"x": None})


def test_division_by_zero_says_so() -> None:
    assert "除数不能为零" in raises_in_chinese("capacity / phases", {"capacity": 10, "phases": 0}).message


def test_data_that_is_not_a_mapping_still_gives_expression_error() -> None:
    with pytest.raises(ExpressionError):
        evaluate("x > 1", None)  # type: ignore[arg-type]


# --- check() ---------------------------------------------------------------------------------


def test_check_accepts_a_good_expression() -> None:
    assert check("capacity_kva > 3000 and not dual_supply") == []


def test_check_reports_every_problem_at_once() -> None:
    problems = check("__import__('os').system(cmd) + _secret + y.z + 2 ** 3 + [c for c in x]")
    joined = "\n".join(problems)
    assert len(problems) >= 5
    for construct in ("__import__", "_secret", ".z", ".system", "**", "推导式"):
        assert construct in joined
    assert all(CHINESE.search(problem) for problem in problems)


def test_check_reports_size_problems_together() -> None:
    problems = check("+".join(["1"] * 400))
    assert any("嵌套过深" in problem for problem in problems)
    assert any("节点" in problem for problem in problems)


def test_check_reports_a_syntax_error_without_raising() -> None:
    problems = check("x >")
    assert len(problems) == 1
    assert problems[0].startswith("表达式语法错误")


def test_compile_error_message_contains_every_problem_from_check() -> None:
    source = "x.y + _z"
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source)
    for problem in check(source):
        assert problem in caught.value.message


# --- agreement with Python on generated arithmetic -------------------------------------------

ARITHMETIC = ["+", "-", "*", "/", "//", "%"]
COMPARISONS = ["<", "<=", "==", "!=", ">", ">="]
VARIABLES = ["a", "b", "c"]


def integer_expressions(depth: int) -> st.SearchStrategy[str]:
    """Fully parenthesised expressions over small ints; at most 2**depth factors are multiplied."""
    leaf = st.one_of(st.integers(-100, 100).map(str), st.sampled_from(VARIABLES))
    if depth == 0:
        return leaf
    sub = integer_expressions(depth - 1)
    return st.one_of(
        leaf,
        st.tuples(sub, st.sampled_from(ARITHMETIC), sub).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(sub, st.sampled_from(COMPARISONS), sub).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(sub, st.sampled_from(COMPARISONS), sub, st.sampled_from(COMPARISONS), sub).map(
            lambda t: f"({t[0]} {t[1]} {t[2]} {t[3]} {t[4]})"
        ),
        st.tuples(sub, st.sampled_from(["and", "or"]), sub).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        sub.map(lambda s: f"(not {s})"),
        sub.map(lambda s: f"(-{s})"),
        st.tuples(sub, sub, sub).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
    )


@settings(max_examples=300, deadline=None)
@given(
    source=integer_expressions(3),
    values=st.fixed_dictionaries({name: st.integers(-100, 100) for name in VARIABLES}),
)
def test_generated_integer_expressions_agree_with_python(source: str, values: dict[str, int]) -> None:
    try:
        # The oracle: input generated by this test, evaluated without builtins.
        expected = eval(source, {"__builtins__": {}}, dict(values))  # noqa: S307
    except ZeroDivisionError:
        with pytest.raises(ExpressionError):
            evaluate(source, values)
        return
    result = evaluate(source, values)
    assert result == expected
    assert type(result) is type(expected)
