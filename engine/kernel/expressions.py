"""The one safe evaluator for expressions found in diagrams.

Gateway conditions and service-task parameters uploaded by analysts are written in a small
expression language that is a strict subset of Python syntax:

* literals (str, int, float, bool, None) and tuple, list, set and dict displays;
* process data variables by name (never a name starting with ``_``);
* ``and``, ``or``, ``not``, ``a if c else b``;
* comparisons and chains: ``== != < <= > >= in not in``, and ``is`` / ``is not`` against ``None``;
* ``+ - * / // %`` and unary ``-`` / ``+`` (no ``**``, no bit operators, no ``@``);
* subscripts ``x["key"]`` / ``x[0]`` (no slices);
* calls of the functions in :data:`ALLOWED_FUNCTIONS` by bare name, positional arguments only.

Source is parsed with :mod:`ast`, every node is checked against that list, and the tree is then
turned into a chain of small Python closures, one per node, that do the evaluation. Nothing is
ever handed to ``eval``, ``exec`` or ``compile``. Sizes are bounded: integers stay within
``±10**18``, a repetition may produce at most 10,000 items, and no string, list or tuple result
may be longer than 100,000. Every failure, at compile time or at evaluation time, is an
:class:`~engine.errors.ExpressionError` with a Chinese message.
"""

from __future__ import annotations

import ast
import functools
import io
import operator
import tokenize
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping

from engine.errors import ExpressionError

__all__ = [
    "ALLOWED_FUNCTIONS",
    "CompiledExpression",
    "check",
    "compile_expression",
    "evaluate",
]

MAX_SOURCE_LENGTH = 2000
MAX_DEPTH = 50
MAX_NODES = 500
INT_LIMIT = 10**18
MAX_REPEAT_LENGTH = 10_000
MAX_SEQUENCE_LENGTH = 100_000

_Program = Callable[[Mapping[str, Any]], Any]
_SEQUENCE_TYPES = (str, list, tuple)
_CONTAINER_TYPES = (list, tuple, set, frozenset, dict)
_SCALAR_TYPES = (str, int, float, bool, type(None))

_TYPE_NAMES: Mapping[type, str] = {
    bool: "布尔值",
    int: "整数",
    float: "小数",
    str: "字符串",
    type(None): "空值（None）",
    list: "列表",
    tuple: "元组",
    dict: "字典",
    set: "集合",
    frozenset: "集合",
}


def _type_name(value: Any) -> str:
    """Name a value's type the way staff read it."""
    return _TYPE_NAMES.get(type(value), type(value).__name__)


# ---------------------------------------------------------------------------
# Size guards
# ---------------------------------------------------------------------------


def _weight_exceeds(value: Any, budget: int) -> bool:
    """Whether a value holds more than ``budget`` items in total, counting nested ones and characters."""
    pending = [value]
    total = 0
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, dict):
            total += len(item)
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, _CONTAINER_TYPES):
            total += len(item)
            pending.extend(item)
        else:
            total += 1
        if total > budget:
            return True
    return False


def _bounded(result: Any) -> Any:
    """Return an arithmetic or call result, or fail when it is larger than the language allows."""
    if isinstance(result, int):
        if -INT_LIMIT <= result <= INT_LIMIT:
            return result
        raise ExpressionError("整数超出允许范围（绝对值不能超过 10^18）")
    if isinstance(result, _SEQUENCE_TYPES) and len(result) > MAX_SEQUENCE_LENGTH:
        raise ExpressionError(f"结果过长（超过 {MAX_SEQUENCE_LENGTH} 个元素或字符）")
    return result


def _check_repetition(left: Any, right: Any) -> None:
    """Refuse ``sequence * int`` before it allocates anything too large."""
    if isinstance(left, _SEQUENCE_TYPES) and isinstance(right, int):
        sequence, count = left, right
    elif isinstance(right, _SEQUENCE_TYPES) and isinstance(left, int):
        sequence, count = right, left
    else:
        return
    if count <= 0:
        return
    if len(sequence) * count > MAX_REPEAT_LENGTH:
        raise ExpressionError(f"重复运算“*”的结果过长（不能超过 {MAX_REPEAT_LENGTH} 个元素或字符）")
    # A list of shared big items is cheap to build but expensive to compare, sort or print.
    if not isinstance(sequence, str) and _weight_exceeds(sequence, MAX_SEQUENCE_LENGTH // count):
        raise ExpressionError(f"重复运算“*”的结果过大（嵌套元素总数不能超过 {MAX_SEQUENCE_LENGTH}）")


def _check_concatenation(left: Any, right: Any) -> None:
    """Refuse ``sequence + sequence`` before it allocates anything too large."""
    if (
        isinstance(left, _SEQUENCE_TYPES)
        and isinstance(right, _SEQUENCE_TYPES)
        and len(left) + len(right) > MAX_SEQUENCE_LENGTH
    ):
        raise ExpressionError(f"拼接结果过长（超过 {MAX_SEQUENCE_LENGTH} 个元素或字符）")


def _check_modulo(left: Any, right: Any) -> None:
    """Refuse ``%`` string formatting: a width like ``%999999999d`` allocates without limit."""
    if isinstance(left, (str, bytes)):
        raise ExpressionError("不支持用“%”格式化字符串")


# ---------------------------------------------------------------------------
# Whitelisted functions
# ---------------------------------------------------------------------------


def _safe_sum(values: Iterable[Any], start: Any = 0) -> Any:
    """Add up numbers; ``sum`` over lists or strings would concatenate without a size check."""
    if not isinstance(start, (int, float)):
        raise ExpressionError(f"sum 的初始值必须是数字，而不是{_type_name(start)}")
    total = start
    for value in values:
        if not isinstance(value, (int, float)):
            raise ExpressionError(f"sum 只能对数字求和，遇到了{_type_name(value)}")
        total = _bounded(total + value)
    return total


def _safe_str(value: Any = "") -> str:
    """Convert to text, refusing containers whose text would be huge."""
    if not isinstance(value, _SCALAR_TYPES) and _weight_exceeds(value, MAX_SEQUENCE_LENGTH):
        raise ExpressionError(f"str 的参数过大（嵌套元素总数超过 {MAX_SEQUENCE_LENGTH}）")
    return str(value)


ALLOWED_FUNCTIONS: Mapping[str, Callable[..., Any]] = MappingProxyType(
    {
        "len": len,
        "min": min,
        "max": max,
        "abs": abs,
        "round": round,
        "int": int,
        "float": float,
        "str": _safe_str,
        "bool": bool,
        "sum": _safe_sum,
        "any": any,
        "all": all,
        "sorted": sorted,
    }
)


# ---------------------------------------------------------------------------
# Operators
# ---------------------------------------------------------------------------


def _contains(left: Any, right: Any) -> bool:
    return left in right


def _not_contains(left: Any, right: Any) -> bool:
    return left not in right


_BINARY_OPERATORS: Mapping[type, tuple[Callable[[Any, Any], Any], str]] = {
    ast.Add: (operator.add, "+"),
    ast.Sub: (operator.sub, "-"),
    ast.Mult: (operator.mul, "*"),
    ast.Div: (operator.truediv, "/"),
    ast.FloorDiv: (operator.floordiv, "//"),
    ast.Mod: (operator.mod, "%"),
}
_BINARY_PRECHECKS: Mapping[type, Callable[[Any, Any], None]] = {
    ast.Add: _check_concatenation,
    ast.Mult: _check_repetition,
    ast.Mod: _check_modulo,
}
_REJECTED_BINARY_OPERATORS: Mapping[type, str] = {
    ast.Pow: "不允许幂运算（**）",
    ast.MatMult: "不允许矩阵乘法（@）",
    ast.LShift: "不允许位运算（<<）",
    ast.RShift: "不允许位运算（>>）",
    ast.BitOr: "不允许位运算（|）",
    ast.BitXor: "不允许位运算（^）",
    ast.BitAnd: "不允许位运算（&）",
}
_COMPARISONS: Mapping[type, tuple[Callable[[Any, Any], Any], str]] = {
    ast.Eq: (operator.eq, "=="),
    ast.NotEq: (operator.ne, "!="),
    ast.Lt: (operator.lt, "<"),
    ast.LtE: (operator.le, "<="),
    ast.Gt: (operator.gt, ">"),
    ast.GtE: (operator.ge, ">="),
    ast.In: (_contains, "in"),
    ast.NotIn: (_not_contains, "not in"),
    ast.Is: (operator.is_, "is"),
    ast.IsNot: (operator.is_not, "is not"),
}
_REJECTED_NODES: Mapping[type, str] = {
    ast.Lambda: "不允许 lambda 表达式",
    ast.ListComp: "不允许列表推导式",
    ast.SetComp: "不允许集合推导式",
    ast.DictComp: "不允许字典推导式",
    ast.GeneratorExp: "不允许生成器表达式",
    ast.JoinedStr: "不允许 f 字符串",
    ast.NamedExpr: "不允许海象赋值（:=）",
    ast.Await: "不允许 await",
    ast.Yield: "不允许 yield",
    ast.YieldFrom: "不允许 yield from",
    ast.Starred: "不允许星号展开（*）",
    ast.Slice: "不允许切片（:）",
}


# ---------------------------------------------------------------------------
# Compile-time checks
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Analysis:
    """What the checker learned about one source string."""

    tree: ast.Expression | None
    problems: tuple[str, ...]
    names: frozenset[str]


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _position(exc: SyntaxError) -> str:
    """Where a syntax error is, in words; the parser reports column 0 when the input ends early."""
    if not exc.lineno:
        return "位置未知"
    if not exc.offset:
        return f"第 {exc.lineno} 行末尾"
    return f"第 {exc.lineno} 行第 {exc.offset} 列"


def _bracket_depth(source: str) -> int:
    """Deepest bracket nesting; parentheses leave no node in the tree, so the tree cannot tell."""
    depth = deepest = 0
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.OP:
            if token.string in "([{":
                depth += 1
                deepest = max(deepest, depth)
            elif token.string in ")]}":
                depth -= 1
    return deepest


def _node_problems(node: ast.expr, call_targets: set[int]) -> list[str]:
    """Problems with one node on its own; its children are checked separately."""
    rejected = _REJECTED_NODES.get(type(node))
    if rejected is not None:
        return [rejected]
    if isinstance(node, ast.FormattedValue):
        return []  # only occurs inside a JoinedStr, which is reported already
    if isinstance(node, ast.Attribute):
        return [f"不允许属性访问（.{node.attr}）"]
    if isinstance(node, ast.Name):
        if node.id.startswith("_") and id(node) not in call_targets:
            return [f"不允许使用以下划线开头的名称：{node.id}"]
        return []
    if isinstance(node, ast.Constant):
        value = node.value
        if not isinstance(value, _SCALAR_TYPES):
            return [f"不支持的常量：{_shorten(ast.unparse(node))}"]
        if isinstance(value, int) and not -INT_LIMIT <= value <= INT_LIMIT:
            return ["整数超出允许范围（绝对值不能超过 10^18）"]
        return []
    if isinstance(node, ast.BinOp):
        message = _REJECTED_BINARY_OPERATORS.get(type(node.op))
        return [message] if message else []
    if isinstance(node, ast.UnaryOp):
        return ["不允许按位取反（~）"] if isinstance(node.op, ast.Invert) else []
    if isinstance(node, ast.Compare):
        return _compare_problems(node)
    if isinstance(node, ast.Call):
        return _call_problems(node, call_targets)
    if isinstance(node, ast.Dict) and any(key is None for key in node.keys):
        return ["不允许字典展开（**）"]
    if isinstance(node, (ast.BoolOp, ast.IfExp, ast.Subscript, ast.Tuple, ast.List, ast.Set, ast.Dict)):
        return []
    return [f"不支持的语法：{type(node).__name__}"]


def _compare_problems(node: ast.Compare) -> list[str]:
    operands = [node.left, *node.comparators]
    for index, op in enumerate(node.ops):
        if isinstance(op, (ast.Is, ast.IsNot)):
            pair = operands[index : index + 2]
            if not any(isinstance(side, ast.Constant) and side.value is None for side in pair):
                return ["is / is not 只能与 None 比较，其它比较请用 == 或 !="]
    return []


def _call_problems(node: ast.Call, call_targets: set[int]) -> list[str]:
    problems = []
    if isinstance(node.func, ast.Name):
        call_targets.add(id(node.func))
        if node.func.id not in ALLOWED_FUNCTIONS:
            allowed = "、".join(ALLOWED_FUNCTIONS)
            problems.append(f"不允许调用函数：{node.func.id}（只能调用 {allowed}）")
    else:
        problems.append(f"只能按名称直接调用白名单函数，不允许调用：{_shorten(ast.unparse(node.func))}")
    for keyword in node.keywords:
        if keyword.arg is None:
            problems.append("不允许 ** 参数展开")
        else:
            problems.append(f"不允许关键字参数：{keyword.arg}=")
    return problems


def _analyse(source: str) -> _Analysis:
    """Parse and check a source string, collecting every problem rather than stopping at the first."""
    if not isinstance(source, str):
        return _Analysis(None, (f"表达式必须是字符串，而不是{_type_name(source)}",), frozenset())
    if len(source) > MAX_SOURCE_LENGTH:
        return _Analysis(None, (f"表达式过长（{len(source)} 个字符，最多 {MAX_SOURCE_LENGTH}）",), frozenset())
    text = source.strip()
    if not text:
        return _Analysis(None, ("表达式为空",), frozenset())
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        return _Analysis(None, (f"表达式语法错误（{_position(exc)}）",), frozenset())
    except ValueError:
        return _Analysis(None, ("表达式语法错误：包含空字符",), frozenset())
    except (RecursionError, MemoryError):
        return _Analysis(None, ("表达式过于复杂，无法解析",), frozenset())

    problems: list[str] = []
    try:
        bracket_depth = _bracket_depth(text)
    except (tokenize.TokenError, SyntaxError):
        return _Analysis(None, ("表达式语法错误（无法切分为记号）",), frozenset())
    if bracket_depth > MAX_DEPTH:
        problems.append(f"括号嵌套过深（超过 {MAX_DEPTH} 层）")
    names: set[str] = set()
    call_targets: set[int] = set()
    node_count = deepest = 0
    # An explicit stack: the tree may be far deeper than Python's recursion limit allows.
    pending: list[tuple[ast.AST, int]] = [(tree.body, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, ast.expr):
            node_count += 1
            deepest = max(deepest, depth)
            problems.extend(_node_problems(node, call_targets))
            if isinstance(node, ast.Name) and id(node) not in call_targets:
                names.add(node.id)
            depth += 1
        pending.extend((child, depth) for child in reversed(list(ast.iter_child_nodes(node))))
    if deepest > MAX_DEPTH:
        problems.append(f"表达式嵌套过深（{deepest} 层，最多 {MAX_DEPTH} 层）")
    if node_count > MAX_NODES:
        problems.append(f"表达式过于复杂（{node_count} 个节点，最多 {MAX_NODES} 个）")
    return _Analysis(tree, tuple(dict.fromkeys(problems)), frozenset(names))


# ---------------------------------------------------------------------------
# From tree to closures
# ---------------------------------------------------------------------------


def _build(node: ast.expr) -> _Program:
    """Turn one checked node into a function of the process data."""
    builder = _BUILDERS[type(node)]
    return builder(node)


def _build_constant(node: ast.Constant) -> _Program:
    value = node.value

    def constant(data: Mapping[str, Any]) -> Any:
        return value

    return constant


def _build_name(node: ast.Name) -> _Program:
    name = node.id

    def variable(data: Mapping[str, Any]) -> Any:
        try:
            return data[name]
        except KeyError as exc:
            raise ExpressionError(f"未定义的变量：{name}") from exc

    return variable


def _build_bool_op(node: ast.BoolOp) -> _Program:
    parts = [_build(value) for value in node.values]
    is_and = isinstance(node.op, ast.And)
    if len(parts) == 2:
        first, second = parts
        if is_and:

            def both(data: Mapping[str, Any]) -> Any:
                value = first(data)
                return second(data) if value else value

            return both

        def either(data: Mapping[str, Any]) -> Any:
            value = first(data)
            return value if value else second(data)

        return either

    head, rest = parts[0], tuple(parts[1:])

    def chain(data: Mapping[str, Any]) -> Any:
        value = head(data)
        for part in rest:
            if bool(value) is not is_and:
                return value
            value = part(data)
        return value

    return chain


def _build_unary_op(node: ast.UnaryOp) -> _Program:
    operand = _build(node.operand)
    if isinstance(node.op, ast.Not):

        def negation(data: Mapping[str, Any]) -> Any:
            return not operand(data)

        return negation

    apply, symbol = (operator.neg, "-") if isinstance(node.op, ast.USub) else (operator.pos, "+")

    def sign(data: Mapping[str, Any]) -> Any:
        value = operand(data)
        try:
            return _bounded(apply(value))
        except TypeError as exc:
            raise ExpressionError(f"类型错误：不能对{_type_name(value)}使用一元“{symbol}”") from exc

    return sign


def _build_bin_op(node: ast.BinOp) -> _Program:
    left_part, right_part = _build(node.left), _build(node.right)
    apply, symbol = _BINARY_OPERATORS[type(node.op)]
    precheck = _BINARY_PRECHECKS.get(type(node.op))

    def arithmetic(data: Mapping[str, Any]) -> Any:
        left, right = left_part(data), right_part(data)
        if precheck is not None:
            precheck(left, right)
        try:
            result = apply(left, right)
        except ZeroDivisionError as exc:
            raise ExpressionError("除数不能为零") from exc
        except TypeError as exc:
            raise ExpressionError(
                f"类型错误：不能对{_type_name(left)}和{_type_name(right)}做“{symbol}”运算"
            ) from exc
        except OverflowError as exc:
            raise ExpressionError(f"数值溢出：“{symbol}”运算的结果超出范围") from exc
        return _bounded(result)

    return arithmetic


def _comparison_failed(symbol: str, left: Any, right: Any) -> ExpressionError:
    return ExpressionError(f"类型错误：不能用“{symbol}”比较{_type_name(left)}和{_type_name(right)}")


def _build_compare(node: ast.Compare) -> _Program:
    left_part = _build(node.left)
    steps = tuple((*_COMPARISONS[type(op)], _build(right)) for op, right in zip(node.ops, node.comparators))
    if len(steps) == 1:
        ((apply, symbol, right_part),) = steps

        def comparison(data: Mapping[str, Any]) -> Any:
            left, right = left_part(data), right_part(data)
            try:
                return apply(left, right)
            except TypeError as exc:
                raise _comparison_failed(symbol, left, right) from exc

        return comparison

    def chained_comparison(data: Mapping[str, Any]) -> Any:
        left = left_part(data)
        result: Any = True
        for apply, symbol, right_part in steps:
            right = right_part(data)
            try:
                result = apply(left, right)
            except TypeError as exc:
                raise _comparison_failed(symbol, left, right) from exc
            if not result:
                return result
            left = right
        return result

    return chained_comparison


def _build_if_exp(node: ast.IfExp) -> _Program:
    test, body, orelse = _build(node.test), _build(node.body), _build(node.orelse)

    def conditional(data: Mapping[str, Any]) -> Any:
        return body(data) if test(data) else orelse(data)

    return conditional


_CALL_FAILURES: Mapping[type, str] = {
    TypeError: "参数类型或个数不正确",
    ValueError: "参数取值不正确",
    OverflowError: "数值超出范围",
}


def _build_call(node: ast.Call) -> _Program:
    assert isinstance(node.func, ast.Name)  # guaranteed by the checks
    name = node.func.id
    function = ALLOWED_FUNCTIONS[name]
    arguments = tuple(_build(argument) for argument in node.args)

    def call(data: Mapping[str, Any]) -> Any:
        values = [argument(data) for argument in arguments]
        try:
            result = function(*values)
        except (TypeError, ValueError, OverflowError) as exc:
            reason = next(text for kind, text in _CALL_FAILURES.items() if isinstance(exc, kind))
            kinds = "、".join(_type_name(value) for value in values) or "无"
            raise ExpressionError(f"函数 {name} 调用失败：{reason}（参数：{kinds}）") from exc
        return _bounded(result)

    return call


def _build_subscript(node: ast.Subscript) -> _Program:
    container_part, key_part = _build(node.value), _build(node.slice)

    def subscript(data: Mapping[str, Any]) -> Any:
        container, key = container_part(data), key_part(data)
        try:
            return container[key]
        except KeyError as exc:
            raise ExpressionError(f"键不存在：{key!r}") from exc
        except IndexError as exc:
            raise ExpressionError(f"下标越界：{key!r}") from exc
        except TypeError as exc:
            raise ExpressionError(
                f"类型错误：不能用{_type_name(key)} {key!r} 作{_type_name(container)}的下标"
            ) from exc

    return subscript


def _build_tuple(node: ast.Tuple) -> _Program:
    items = tuple(_build(item) for item in node.elts)

    def tuple_display(data: Mapping[str, Any]) -> Any:
        return tuple([item(data) for item in items])

    return tuple_display


def _build_list(node: ast.List) -> _Program:
    items = tuple(_build(item) for item in node.elts)

    def list_display(data: Mapping[str, Any]) -> Any:
        return [item(data) for item in items]

    return list_display


def _build_set(node: ast.Set) -> _Program:
    items = tuple(_build(item) for item in node.elts)

    def set_display(data: Mapping[str, Any]) -> Any:
        values = [item(data) for item in items]
        try:
            return set(values)
        except TypeError as exc:
            kinds = "、".join(sorted({_type_name(value) for value in values}))
            raise ExpressionError(f"类型错误：集合的元素必须是不可变的值（出现了{kinds}）") from exc

    return set_display


def _build_dict(node: ast.Dict) -> _Program:
    pairs = tuple((_build(key), _build(value)) for key, value in zip(node.keys, node.values) if key is not None)

    def dict_display(data: Mapping[str, Any]) -> Any:
        result = {}
        for key_part, value_part in pairs:
            key = key_part(data)
            try:
                result[key] = value_part(data)
            except TypeError as exc:
                raise ExpressionError(f"类型错误：{_type_name(key)}不能作字典的键") from exc
        return result

    return dict_display


_BUILDERS: Mapping[type, Callable[[Any], _Program]] = {
    ast.Constant: _build_constant,
    ast.Name: _build_name,
    ast.BoolOp: _build_bool_op,
    ast.UnaryOp: _build_unary_op,
    ast.BinOp: _build_bin_op,
    ast.Compare: _build_compare,
    ast.IfExp: _build_if_exp,
    ast.Call: _build_call,
    ast.Subscript: _build_subscript,
    ast.Tuple: _build_tuple,
    ast.List: _build_list,
    ast.Set: _build_set,
    ast.Dict: _build_dict,
}


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledExpression:
    """A checked expression, ready to evaluate many times without parsing again."""

    source: str
    names: frozenset[str]
    _tree: ast.Expression = field(repr=False, compare=False)
    _program: _Program = field(repr=False, compare=False)

    def evaluate(self, data: Mapping[str, Any]) -> Any:
        """Evaluate against process data; every failure is an ExpressionError naming this source."""
        try:
            return self._program(data)
        except ExpressionError as exc:
            if exc.expression:
                raise
            raise ExpressionError(exc.message, self.source) from exc
        except (ArithmeticError, LookupError, TypeError, ValueError, RecursionError) as exc:
            # Reached only through unusual data (a non-mapping, a value whose own methods fail).
            raise ExpressionError(f"表达式求值出错：{type(exc).__name__}", self.source) from exc


def compile_expression(source: str) -> CompiledExpression:
    """Parse and check an expression, raising ExpressionError listing every problem found."""
    analysis = _analyse(source)
    if analysis.problems or analysis.tree is None:
        raise ExpressionError("；".join(analysis.problems), source if isinstance(source, str) else "")
    return CompiledExpression(
        source=source,
        names=analysis.names,
        _tree=analysis.tree,
        _program=_build(analysis.tree.body),
    )


_compile_cached = functools.lru_cache(maxsize=4096)(compile_expression)


def evaluate(source: str, data: Mapping[str, Any]) -> Any:
    """Compile (cached) and evaluate an expression against process data."""
    if not isinstance(source, str):
        raise ExpressionError(f"表达式必须是字符串，而不是{_type_name(source)}")
    return _compile_cached(source).evaluate(data)


def check(source: str) -> list[str]:
    """Every problem in an expression as Chinese messages; an empty list when it is fine."""
    return list(_analyse(source).problems)
