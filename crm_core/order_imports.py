"""Orders from a spreadsheet (an import of `kind=orders`, crm_core.imports): one row per order
line, the consecutive rows with one order number making one order, its customer by email or
phone (made a contact when new), recorded as the API records orders (crm_core.orders), so the
same file imported again changes nothing and a known order is updated."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from crm_core.errors import Invalid
from crm_core.orders import OrderInput, OrderItem

# Header words (lower-cased) -> the field; Chinese as Chinese order exports name them.
ORDER_HEADER_GUESSES = {
    "order": "number", "order number": "number", "order no": "number", "order id": "number",
    "number": "number",
    "订单号": "number", "订单编号": "number", "单号": "number",
    "email": "email", "e-mail": "email", "邮箱": "email", "电子邮箱": "email",
    "phone": "phone", "mobile": "phone", "手机": "phone", "手机号": "phone", "电话": "phone",
    "name": "name", "customer": "name", "姓名": "name", "客户": "name", "收货人": "name",
    "status": "status", "状态": "status", "订单状态": "status",
    "currency": "currency", "币种": "currency", "货币": "currency",
    "total": "total", "amount": "total", "order total": "total", "金额": "total", "总额": "total",
    "订单金额": "total", "实付金额": "total",
    "date": "placed_at", "placed at": "placed_at", "order date": "placed_at", "created": "placed_at",
    "下单时间": "placed_at", "日期": "placed_at", "时间": "placed_at",
    "product": "product", "item": "product", "商品": "product", "商品名称": "product", "品名": "product",
    "sku": "sku", "货号": "sku", "商品编码": "sku",
    "quantity": "quantity", "qty": "quantity", "数量": "quantity",
    "price": "price", "unit price": "price", "单价": "price",
}  # fmt: skip
ORDER_TARGETS = frozenset(ORDER_HEADER_GUESSES.values())
# An export's words for a status, in English and Chinese.
STATUS_WORDS = {
    "pending": "pending", "unpaid": "pending", "待付款": "pending", "待支付": "pending",
    "paid": "paid", "complete": "paid", "completed": "paid", "已付款": "paid", "已支付": "paid",
    "已完成": "paid",
    "fulfilled": "fulfilled", "shipped": "fulfilled", "delivered": "fulfilled", "已发货": "fulfilled",
    "已签收": "fulfilled", "cancelled": "cancelled", "canceled": "cancelled", "已取消": "cancelled",
    "refunded": "refunded", "已退款": "refunded",
}  # fmt: skip

Row = tuple[int, dict[str, str]]  # its number in the file, and its cells


@dataclass
class OrderRows:
    """The rows of one order, and the order they make (or why they make none)."""

    rows: list[Row]
    order: OrderInput | None
    refused: str | None = None


def order_groups(rows: Iterable[Row], mapping: dict[str, str], base_currency: str) -> Iterator[OrderRows]:
    """Consecutive rows with one order number, each group read as an order."""
    group: list[Row] = []
    for row in rows:
        if group and _number(group[0][1], mapping) != _number(row[1], mapping):
            yield _read(group, mapping, base_currency)
            group = []
        group.append(row)
    if group:
        yield _read(group, mapping, base_currency)


def _number(row: dict[str, str], mapping: dict[str, str]) -> str:
    return _cell(row, mapping, "number")


def _cell(row: dict[str, str], mapping: dict[str, str], field: str) -> str:
    return next((row.get(column, "").strip() for column, target in mapping.items() if target == field), "")


def _read(group: list[Row], mapping: dict[str, str], base_currency: str) -> OrderRows:
    first = group[0][1]
    try:
        order = OrderInput(
            number=_cell(first, mapping, "number"),
            status=_status(_cell(first, mapping, "status")),
            currency=_cell(first, mapping, "currency") or base_currency,
            total=_cell(first, mapping, "total") or _sum(group, mapping),
            placed_at=_time(_cell(first, mapping, "placed_at")),
            items=[item for _, row in group if (item := _item(row, mapping)) is not None],
            email=_cell(first, mapping, "email") or None,
            phone=_cell(first, mapping, "phone") or None,
            name=_cell(first, mapping, "name") or None,
        )
    except Invalid as exc:
        return OrderRows(group, None, str(exc))
    if not order.number:
        return OrderRows(group, None, "no order number")
    return OrderRows(group, order)


def _status(text: str) -> str:
    if not text:
        return "paid"  # an export of sales lists what was sold
    status = STATUS_WORDS.get(text.strip().lower())
    if status is None:
        raise Invalid(f"status {text[:40]!r} is none of pending, paid, fulfilled, cancelled, refunded")
    return status


def _time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("/", "-"))
    except ValueError:
        raise Invalid(f"date {text[:40]!r} is not a date (such as 2026-12-01 or 2026-12-01 10:30)") from None


def _item(row: dict[str, str], mapping: dict[str, str]) -> OrderItem | None:
    product = _cell(row, mapping, "product")
    if not product:
        return None
    quantity = _cell(row, mapping, "quantity") or "1"
    try:
        count = int(float(quantity))
    except ValueError:
        raise Invalid(f"quantity {quantity[:20]!r} is not a number") from None
    if count != float(quantity):
        raise Invalid(f"quantity {quantity[:20]!r} is not a whole number")
    return OrderItem(product, _cell(row, mapping, "sku") or None, count, _cell(row, mapping, "price") or "0")


def _sum(group: list[Row], mapping: dict[str, str]) -> str:
    """The total, when no column gives it: the lines' prices times their quantities."""
    try:
        cents = sum(
            round(float(_cell(row, mapping, "price") or 0) * 100)
            * int(float(_cell(row, mapping, "quantity") or 1))
            for _, row in group
        )
    except ValueError:
        raise Invalid("total: no total column, and a price or quantity that is not a number") from None
    return f"{cents / 100:.2f}"
