"""Keyword cues per language and intent, written by us. They are the rules fallback when the
model cannot load, and one more feature of the model (a cue is strong evidence that the
character n-grams of a few hundred examples cannot always see)."""

from __future__ import annotations

import re

from nlp.labels import INTENTS

_EN: dict[str, tuple[str, ...]] = {
    "spam": (
        r"\bfree\b.*\b(prize|gift|iphone|bitcoin)",
        r"\bclick (here|to claim)",
        r"\bearn \$?\d+",
        r"casino",
        r"crypto",
        r"\bwon\b|\bwinner\b",
        r"followers",
        r"\bloan\b",
        r"https?://\S+\.(xyz|top)|\S+\.(xyz|top|club)\b",
        r"guaranteed|no credit check|no experience",
    ),
    "cancellation": (
        r"\bcancel",
        r"\bterminat",
        r"unsubscribe",
        r"close (my|the|our) account",
        r"delete (my )?account",
        r"\bdon'?t renew|auto[- ]?renew",
        r"end (my|the) (subscription|contract|membership|trial)",
    ),
    "billing": (
        r"\binvoice",
        r"\bcharged?\b|\bcharges\b|overcharg",
        r"\brefund",
        r"\bpayment|\bpay (with|by)\b",
        r"\bbill(ed|ing)?\b",
        r"\breceipt",
        r"\bvat\b",
        r"credit card|\bcard (was )?declined",
        r"money back",
    ),
    "sales_inquiry": (
        r"\bpric(e|ing)|how much",
        r"\bquote\b",
        r"\bdemo\b",
        r"\bseats?\b",
        r"\blicen[cs]es?\b",
        r"\benterprise\b",
        r"\btrial\b",
        r"\bdiscount",
        r"\bbudget",
        r"\b(ship|deliver) (to|internationally)",
        r"\bin stock\b|\bwant to (buy|order|purchase)|\bpurchase\b",
    ),
    "complaint": (
        r"unacceptable",
        r"terrible",
        r"\bworst\b",
        r"disappointed",
        r"\brude\b",
        r"ridiculous",
        r"fed up|sick of",
        r"not happy",
        r"complain",
        r"\bscam\b|useless|pathetic|disgrace",
    ),
    "support_request": (
        r"\bhow (do|can) i\b",
        r"\berror\b",
        r"can'?t (log|find|login|sign)",
        r"doesn'?t work|not working|won'?t (load|work)",
        r"\bcrash",
        r"\bhelp\b",
        r"\bissue\b",
        r"password",
        r"\b(order|package|parcel|delivery|tracking)\b",
        r"\b(human|operator|agent|real person)\b",
    ),
    "feedback": (
        r"\bsuggestion|\bidea\b",
        r"feature request",
        r"would (be|love)",
        r"great (work|job|product)",
        r"\bthanks? (you )?(so much )?for",
        r"\blove\b",
        r"\bkudos\b",
    ),
    "greeting": (
        r"^\W*(hi|hello|hey|hiya|howdy|yo|good (morning|afternoon|evening)|greetings|morning)"
        r"\b\W*\w{0,12}\W*$",
    ),
}

_ZH: dict[str, tuple[str, ...]] = {
    "spam": (
        r"中奖",
        r"领取",
        r"兼职",
        r"日赚|日结|网赚|躺着赚",
        r"贷款|放款",
        r"刷单|刷粉|刷好评",
        r"赌场|彩票",
        r"代开发票|办证|代写",
        r"点击.{0,6}(链接|t\.cn|www|http)",
        r"加(我)?(微信|v|群)",
        r"翻倍|稳赚|收益",
        r"美女|陪聊|成人",
        r"[a-z0-9-]+\.(top|xyz|club|cn)\b|bit\.ly|https?://",
        r"(账户|账号)(存在)?(异常|风险).{0,12}(登录|点击|验证)",
        r"百度首页|推广|高仿",
    ),
    "cancellation": (
        r"取消",
        r"退订",
        r"注销",
        r"销户",
        r"不续",
        r"停止续费|关闭自动",
        r"解约",
        r"删除.{0,4}账号|账号.{0,6}删",
        r"不要了",
        r"退会员|退出会员|退掉",
    ),
    "billing": (
        r"退款|退钱|退一笔|退回来",
        r"扣(了|费|款|钱)|多收|多付|收了我",
        r"发票|收据|凭证",
        r"付款|支付|付不了|充值",
        r"账单|余额|差价|续费价格",
        r"年付|月付|按月|季度付",
    ),
    "sales_inquiry": (
        r"多少钱|价格|报价|收费|怎么卖",
        r"优惠|折扣|便宜|批发|团购",
        r"试用|演示",
        r"有货|现货|补货|预订",
        r"想买|采购|下单",
        r"寄到|能寄|发货到|海外|包邮",
        r"企业版|专业版|套餐",
    ),
    "complaint": (
        r"投诉",
        r"太差|很差|差劲|离谱|垃圾",
        r"失望|受够|气死|不满",
        r"骗|欺诈",
        r"态度(恶劣|很差|差)",
        r"差评",
        r"破(东西|服务)",
        r"过分|恶心",
    ),
    "support_request": (
        r"物流|快递|包裹|单号|发货|签收|配送",
        r"订单.{0,12}(到哪|状态|查)|查.{0,4}订单",
        r"密码|登录|登不|验证码|账号",
        r"退货|换货|售后|保修",
        r"坏|少了|少发|发错|不对",
        r"报错|闪退|打不开|卡|失败|出问题",
        r"人工|客服|真人|电话",
        r"怎么(用|改|修改|绑定|找回|注册)",
    ),
    "feedback": (
        r"好评|点赞|赞",
        r"建议|希望",
        r"(?<!不)满意|不错|很好|好用",
        r"谢谢|感谢|辛苦",
    ),
    "greeting": (
        r"^\W*(你好|您好|在吗|在么|在不在|哈喽|哈啰|嗨|早上好|中午好|下午好|晚上好|亲|有人(在)?吗|客服在吗|hello|hi)\W*$",
    ),
}

_COMPILED = {
    lang: {intent: tuple(re.compile(p) for p in patterns) for intent, patterns in table.items()}
    for lang, table in (("en", _EN), ("zh", _ZH))
}


def counts(text: str, lang: str) -> list[int]:
    """How many cues of each intent (in INTENTS order) the text holds."""
    table = _COMPILED.get(lang, _COMPILED["en"])
    lowered = text.lower()
    return [sum(1 for p in table.get(intent, ()) if p.search(lowered)) for intent in INTENTS]
