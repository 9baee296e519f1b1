"""Writes nlp/data/generated.jsonl: labelled examples from templates and slot values, all
written for this repo. Each template is one family, so `python -m nlp evaluate` never trains
on a variant of a sentence it tests. Deterministic: rerun after editing and commit the output.

    python scripts/generate_intent_examples.py
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "nlp" / "data" / "generated.jsonl"
VARIANTS = 6

SLOTS_EN = {
    "order": ["5512098734", "00481190", "#48213", "A-99120", "ORD-55817", "1123", "884210", "#0019934"],
    "amount": ["$299", "$1", "€45.90", "120 dollars", "£12", "$1,250", "49.99 EUR", "$7.50", "300 bucks"],
    "product": [
        "blue hoodie",
        "wireless earbuds",
        "standing desk",
        "coffee grinder",
        "yoga mat",
        "phone case",
        "running shoes",
        "gift card",
        "laptop sleeve",
        "kids bike",
        "air fryer",
        "winter jacket",
    ],
    "country": ["Japan", "Canada", "Germany", "Brazil", "Australia", "Mexico", "India", "the UK", "Norway"],
    "name": ["Anna", "Raj", "Tom", "Mei", "Lukas", "Fatima", "Diego", "Sarah", "Kenji"],
    "swear": ["damn", "freaking", "bloody", "goddamn", "f***ing", "fucking", "shitty", "stupid"],
    "plan": ["basic", "premium", "business", "pro", "family", "starter"],
    "wait": ["3 days", "two weeks", "10 days", "a month", "5 weeks", "forever"],
    "method": ["PayPal", "Apple Pay", "bank transfer", "Klarna", "a Visa card", "Amex", "Google Pay"],
    "human": ["a human", "a real person", "an operator", "an agent", "someone from support", "a manager"],
    "site": ["win-big-today.xyz", "cheap-meds.top", "crypto-double.io", "bit.ly/3xF4k", "free-gift.club"],
}

# intent -> templates. Keep them short and varied in register: customers write fragments.
TEMPLATES_EN: dict[str, list[str]] = {
    "support_request": [
        "order {order} status",
        "where is my order {order}?",
        "can you check on order {order}",
        "order {order} still hasn't arrived, it's been {wait}",
        "when will my {product} be delivered?",
        "how long does delivery take to {country}?",
        "tracking number for {order} pls",
        "the tracking link for my {product} doesn't work",
        "i need to change the shipping address on order {order}",
        "which page lets me edit the {swear} delivery address",
        "can I still change my delivery address? order {order}",
        "connect me with {human}",
        "can I speak to {human} please",
        "get me {human}, the bot is useless",
        "forgot my password",
        "password reset email never came",
        "how do I create an account?",
        "can't sign up, the form keeps saying invalid email",
        "how do i change the email on my account",
        "my {product} arrived broken, what do I do?",
        "wrong item in my package, I ordered a {product}",
        "the {product} I got is missing a part",
        "how do I return the {product}?",
        "can I exchange the {product} for a bigger size",
        "login not working since this morning",
        "app keeps crashing when I open my orders",
        "my discount code doesn't work at checkout",
        "I clicked the link in your email and got an error page",
        "{name} here, my account is locked",
        "can you help me track order {order}",
        "package says delivered but nothing here, order {order}",
        "how do I update my phone number",
        "the {swear} checkout page won't load",
        "hello? anyone there? I need help with order {order}",
    ],
    "billing": [
        "still no sign of my {amount} refund",
        "refund {amount}",
        "where is my {swear} refund",
        "where the hell is my refund of {amount} for order {order}",
        "you charged me twice, I want {amount} back",
        "charged {amount} but the order was cancelled",
        "I was billed {amount} instead of the sale price",
        "can I get an invoice for order {order}",
        "need a receipt for {amount}",
        "do you accept {method}?",
        "can I pay with {method}",
        "my payment with {method} failed but the money is gone",
        "why is there a {amount} charge on my card",
        "refund still not on my card after {wait}",
        "give me my {swear} money back",
        "how do I switch to the {plan} plan",
        "change my plan from {plan} to monthly billing",
        "the promo was 20% off but I paid full price, {amount}",
        "I returned the {product}, when do I get my money",
        "charged for shipping even though it said free shipping",
        "update my credit card details",
        "my card was declined but I have money on it",
        "what is this {amount} fee on my statement",
        "can I get a refund for the {product}",
        "request refund order {order}",
        "overcharged on order {order}",
        "{name} from accounts payable, please send the VAT invoice",
        "double payment for order {order}, refund one please",
    ],
    "sales_inquiry": [
        "can you deliver to {country}",
        "how much is shipping to {country}",
        "looking to buy something, who can assist",
        "i'd like to buy a {product}",
        "is the {product} in stock?",
        "how much does the {plan} plan cost",
        "pricing for 20 users?",
        "do you have a free trial",
        "what's the difference between {plan} and {plan2}",
        "can I order 50 {product}s for my company, is there a bulk discount?",
        "is there a student discount",
        "when will the {product} be back in stock",
        "do you sell gift cards",
        "we are a team of 30, can we get a demo?",
        "looking for a quote for 200 licences",
        "can I try it before I buy",
        "what colours does the {product} come in",
        "does the {plan} plan include phone support?",
        "how fast is delivery to {country} if I order today",
        "is there a yearly plan and what does it cost",
        "I'm interested in your {product}, any deals?",
        "{name} here, our budget is {amount}, what can we get",
        "want to place an order for {product}",
    ],
    "complaint": [
        "this is the worst service ever, {wait} and no answer",
        "your courier threw my {product} over the fence, unacceptable",
        "I'm really disappointed with the quality of the {product}",
        "absolutely {swear} ridiculous, nobody answers the phone",
        "your support agent {name} was rude to me",
        "I've been waiting {wait} and nobody cares",
        "I want to file a complaint about your delivery driver",
        "terrible experience, never ordering again",
        "you people are useless",
        "the {product} fell apart after one week, what a joke",
        "this is the third time my order is late, fed up",
        "I'm not happy at all with how my issue was handled",
        "your website is a {swear} mess",
        "I paid {amount} for this junk, shame on you",
        "nobody replied to my emails for {wait}, disgraceful",
        "so disappointed, the {product} looks nothing like the photos",
    ],
    "cancellation": [
        "cancel my order {order}",
        "please cancel order {order} before it ships",
        "I want to cancel my subscription",
        "cancel the {plan} plan at the end of the month",
        "delete my account",
        "how do i close my account",
        "stop my membership, I'm done",
        "don't renew my subscription",
        "I'd like to terminate my contract",
        "cancel the {product} I ordered by mistake",
        "remove my account and all my data please",
        "end my {plan} subscription now",
        "how can I cancel the auto renewal",
        "I no longer want the {product}, cancel it",
    ],
    "feedback": [
        "love the new {product}, great quality",
        "{name} from your team was super helpful, thanks!",
        "suggestion: add a dark mode to the app",
        "would be nice if you shipped to {country}",
        "great job on the fast delivery",
        "the new checkout is much better, well done",
        "it would help to see the delivery date before paying",
        "just wanted to say the {product} is amazing",
        "idea: let us save several shipping addresses",
        "5 stars, will order again",
        "kudos to the support team",
        "you should add {method} as a payment option",
    ],
    "greeting": [
        "hi",
        "hello",
        "hey there",
        "good morning",
        "hi {name} here",
        "hello team",
        "hey, anyone there?",
        "good evening",
        "hiya",
        "hello, it's {name}",
        "yo",
        "greetings",
    ],
    "spam": [
        "Congratulations! You won a {product}, claim it at {site}",
        "WINNER!! Claim your {amount} prize now, reply YES",
        "Earn {amount} a day working from home, no experience needed",
        "Double your bitcoin in 24 hours, visit {site}",
        "Get 10,000 followers instantly, only {amount}",
        "We can put your website on page 1 of Google, guaranteed",
        "Cheap meds without prescription at {site}",
        "Your account will be suspended, verify your password at {site}",
        "Hot singles in your area are waiting, click {site}",
        "Pre-approved loan of {amount}, no credit check, apply now",
        "I'm a prince and need your help moving {amount}, you keep 30%",
        "Buy backlinks from high DA sites, 50 per package",
        "URGENT: your parcel is held, pay the {amount} customs fee at {site}",
        "Free entry to win a {product}! Text WIN to 80088",
        "Invest {amount} today and get 10x returns, limited spots",
        "Dear friend, I have a business proposal worth {amount}",
        "Lose 10 kg in a week with this miracle pill {site}",
        "We offer SEO and web design services at the lowest price, reply for a quote",
        "Your Apple ID has been locked, confirm your details at {site}",
        "Hi dear, want to be my friend? see my photos at {site}",
    ],
    "other": [
        "ok",
        "thanks",
        "ok thanks",
        "never mind",
        "test",
        "asdfgh",
        "lol",
        "sorry wrong chat",
        "who is this",
        "are you a robot?",
        "brb",
        "sure",
        "what's the weather in {country}",
        "nothing, ignore",
    ],
}

SLOTS_ZH = {
    "order": ["6120984433", "20231188", "#48213", "DD20260112", "884210", "SO-55817"],
    "amount": ["299元", "58块", "¥1200", "三百块", "12.5元", "两千元", "199块钱"],
    "product": [
        "蓝牙耳机",
        "羽绒服",
        "电饭煲",
        "运动鞋",
        "手机壳",
        "咖啡机",
        "儿童自行车",
        "保温杯",
        "会员卡",
    ],
    "city": ["上海", "北京", "深圳", "成都", "杭州", "广州", "武汉"],
    "place": ["日本", "新加坡", "香港", "台湾", "美国", "马来西亚"],
    "wait": ["三天", "一个星期", "十天", "半个月", "两周"],
    "method": ["微信支付", "支付宝", "银行卡", "信用卡", "花呗"],
    "plan": ["基础版", "专业版", "企业版", "高级会员"],
    "human": ["人工客服", "真人", "客服", "你们经理"],
    "site": ["bit.ly/3xF4k", "www.ying-da-jiang.xyz", "vip-888.top", "t.cn/Ab12"],
    "name": ["小王", "李女士", "张先生", "小陈", "刘经理"],
}

TEMPLATES_ZH: dict[str, list[str]] = {
    "support_request": [
        "订单{order}到哪了",
        "查一下订单{order}的物流",
        "我的快递{wait}了还没到",
        "{product}什么时候能发货",
        "收货地址写错了，怎么改？订单号{order}",
        "帮我转{human}",
        "我要找{human}",
        "忘记密码了怎么办",
        "登录不了，一直提示验证码错误",
        "怎么注册账号",
        "怎么修改绑定的手机号",
        "收到的{product}是坏的，怎么处理",
        "发错货了，我买的是{product}",
        "{product}怎么退货",
        "APP一打开就闪退",
        "优惠券用不了",
        "快递显示已签收但我没收到，订单{order}",
        "能帮我查下{order}吗",
        "寄到{city}一般几天到",
        "{product}少了一个配件",
    ],
    "billing": [
        "这个月扣了我两回钱，退我一笔",
        "退款什么时候到账",
        "我要退款，订单{order}",
        "退款{amount}到现在还没收到",
        "为什么多扣了我{amount}",
        "能开发票吗，订单号{order}",
        "公司要专票，抬头怎么填",
        "可以用{method}付款吗",
        "{method}付款失败了但是钱扣了",
        "我想从{plan}换成按月付费",
        "活动价是{amount}，怎么收了我原价",
        "{product}退回去了，钱什么时候退",
        "扣费不对，帮我查一下账单",
        "运费不是免费的吗，怎么收了{amount}",
        "重复付款了，订单{order}，退一笔",
        "妈的，退款拖了{wait}还没到",
    ],
    "sales_inquiry": [
        "能寄到{place}吗",
        "寄到{place}运费多少",
        "我想买{product}，怎么下单",
        "{product}还有货吗",
        "{plan}多少钱一年",
        "有没有免费试用",
        "买50个{product}有批发价吗",
        "{plan}和{plan2}有什么区别",
        "有学生优惠吗",
        "我们公司30个人，想了解一下企业版报价",
        "可以先演示一下吗",
        "{product}有几种颜色",
        "今天下单{city}明天能到吗",
        "预算{amount}左右，推荐哪个",
    ],
    "complaint": [
        "你们服务太差了，等了{wait}都没人理",
        "快递员态度恶劣，直接把{product}扔门口",
        "{product}质量太差了，非常失望",
        "客服{name}态度很差，我要投诉",
        "等了{wait}还没解决，你们到底管不管",
        "垃圾商家，再也不买了",
        "{product}用了一个星期就坏了，什么破东西",
        "又迟到了，这是第三次了，受够了",
        "花了{amount}买了个垃圾，太坑了",
        "打了好多次电话都没人接，太过分了",
        "实物和图片完全不一样，骗人",
        "我要投诉你们的配送",
    ],
    "cancellation": [
        "取消订单{order}",
        "帮我把订单{order}取消了，还没发货",
        "我要取消订阅",
        "注销我的账号",
        "怎么关闭自动续费",
        "{plan}到期后不要续费了",
        "不想要{product}了，取消吧",
        "退订会员",
        "我要解约",
        "把我的账号和数据都删掉",
    ],
    "feedback": [
        "{product}很好用，点个赞",
        "客服{name}很耐心，谢谢",
        "建议APP加个夜间模式",
        "希望以后能寄到{place}",
        "发货很快，好评",
        "新版结账流程好多了",
        "建议付款前显示预计送达时间",
        "五星好评，还会再买",
        "建议增加{method}付款方式",
    ],
    "greeting": [
        "你好",
        "您好",
        "在吗",
        "hello，在吗",
        "早上好",
        "晚上好",
        "哈喽",
        "你好，我是{name}",
        "有人吗",
        "嗨",
    ],
    "spam": [
        "恭喜您中奖了！领取{product}请点击{site}",
        "在家兼职日赚{amount}，无需经验，加微信",
        "比特币翻倍，点击{site}立即投资",
        "低价刷粉丝刷好评，一万粉只要{amount}",
        "无抵押贷款，当天放款，额度{amount}",
        "您的账户存在异常，请登录{site}验证",
        "高薪招聘打字员，日结{amount}",
        "特价代开发票，联系我",
        "澳门线上赌场，首充送{amount}",
        "网站优化上百度首页，包排名",
        "您的快递被海关扣留，请缴纳{amount}关税{site}",
        "美女主播在线陪聊，点击{site}",
    ],
    "other": [
        "好的",
        "谢谢",
        "嗯嗯",
        "知道了",
        "没事了",
        "测试",
        "哈哈哈",
        "发错了",
        "你是机器人吗",
        "今天{city}天气怎么样",
        "等一下",
        "好的谢谢",
    ],
}


def _noisy(text: str, rng: random.Random) -> str:
    """How people type in chat: lower case, no final stop, a typo or a shorthand."""
    roll = rng.random()
    if roll < 0.25:
        text = text.lower()
    elif roll < 0.35:
        text = text.upper() if len(text) < 40 else text
    if rng.random() < 0.3:
        text = text.rstrip(".?!")
    if rng.random() < 0.2:
        text = re.sub(r"\bplease\b", "pls", text)
        text = re.sub(r"\byou\b", "u", text)
    if rng.random() < 0.2:
        words = text.split(" ")
        long = [i for i, w in enumerate(words) if len(w) > 4 and w.isalpha()]
        if long:
            i = rng.choice(long)
            w = words[i]
            j = rng.randrange(len(w) - 1)
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
            text = " ".join(words)
    return text


def _fill(template: str, slots: dict[str, list[str]], rng: random.Random) -> str:
    def one(match: re.Match[str]) -> str:
        return rng.choice(slots[match.group(1).rstrip("2")])

    return re.sub(r"\{(\w+)\}", one, template)


def generate() -> list[dict[str, str]]:
    rng = random.Random(20261129)
    rows = []
    for lang, templates, slots in (("en", TEMPLATES_EN, SLOTS_EN), ("zh", TEMPLATES_ZH, SLOTS_ZH)):
        for intent, patterns in templates.items():
            for number, template in enumerate(patterns):
                seen: set[str] = set()
                for _ in range(VARIANTS * 3):
                    text = _fill(template, slots, rng)
                    if lang == "en":
                        text = _noisy(text, rng)
                    if text not in seen:
                        seen.add(text)
                        family = f"{lang}-{intent}-{number}"
                        rows.append({"text": text, "intent": intent, "lang": lang, "family": family})
                    if len(seen) == VARIANTS:
                        break
    return rows


def main() -> None:
    lines = [json.dumps(row, ensure_ascii=False) for row in generate()]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} examples to {OUT}")


if __name__ == "__main__":
    main()
