import Foundation

/// What a cardholder reads, in Russian, Chinese and English: the outcome of adding a card,
/// why it could not be added, a change of terms (the bank's one-time code message is the
/// bank's own: `ActivationCodeDelivery.language` asks for the cardholder's language). The
/// language is the reader's (`Accept-Language`) when Passway has it, else the market's,
/// else English. Machine fields (a problem's `type`, its `reason`) never change with it.
public enum CardholderText {
    public static let languages = ["ru", "zh", "en"]

    public static func language(acceptLanguage: String?, market: [String]) -> String {
        Language.choose(from: languages, acceptLanguage: acceptLanguage, fallback: market) ?? "en"
    }

    /// The text of `key` in `language` (English for one not offered), `{name}` placeholders
    /// filled from `values`; nil for a key without a text.
    public static func text(_ key: String, _ language: String, _ values: [String: String] = [:]) -> String? {
        guard let entry = table[key] else { return nil }
        var text = entry[language] ?? entry["en"] ?? ""
        for (name, value) in values { text = text.replacingOccurrences(of: "{\(name)}", with: value) }
        return text
    }

    /// Keys: the enrollment outcomes, and each `reason` of a refusal a cardholder may meet.
    public static let table: [String: [String: String]] = [
        "approved": [
            "en": "Your card was added. You can pay with it now.",
            "ru": "Карта добавлена. Теперь ею можно платить.",
            "zh": "您的卡已添加，现在可以用它付款。",
        ],
        "pending_verification": [
            "en": "Your bank sent a one-time code to {destination}. Enter it to finish adding the card.",
            "ru": "Банк отправил одноразовый код на {destination}. Введите его, чтобы завершить добавление карты.",
            "zh": "您的银行已向 {destination} 发送一次性验证码。请输入验证码以完成添加。",
        ],
        "declined": [
            "en": "Your bank could not verify this card. Please contact your bank.",
            "ru": "Банк не смог проверить эту карту. Обратитесь в свой банк.",
            "zh": "您的银行无法验证此卡，请联系您的银行。",
        ],
        "verification_failed": [
            "en": "The code is not right. Attempts left: {attemptsLeft}.",
            "ru": "Неверный код. Осталось попыток: {attemptsLeft}.",
            "zh": "验证码不正确。剩余尝试次数：{attemptsLeft}。",
        ],
        "invalid_card_number": [
            "en": "This card number is not valid. Please check it.",
            "ru": "Неверный номер карты. Проверьте его.",
            "zh": "卡号无效，请检查。",
        ],
        "card_range_not_supported": [
            "en": "Cards of this bank cannot be added yet.",
            "ru": "Карты этого банка пока нельзя добавить.",
            "zh": "暂不支持添加该银行的卡。",
        ],
        "wallet_not_enabled": [
            "en": "Your bank does not allow this card in this wallet.",
            "ru": "Ваш банк не разрешает добавлять эту карту в этот кошелёк.",
            "zh": "您的银行不允许将此卡添加到此钱包。",
        ],
        "market_suspended": [
            "en": "Cards cannot be added in your country at the moment.",
            "ru": "В вашей стране сейчас нельзя добавлять карты.",
            "zh": "目前无法在您所在的国家/地区添加卡。",
        ],
        "market_not_live": [
            "en": "This service is not available in your country yet.",
            "ru": "Сервис пока недоступен в вашей стране.",
            "zh": "该服务尚未在您所在的国家/地区开通。",
        ],
        "device_not_supported": [
            "en": "This device cannot hold payment cards.",
            "ru": "На этом устройстве нельзя хранить платёжные карты.",
            "zh": "此设备无法存放支付卡。",
        ],
        "device_lost": [
            "en": "This device was reported lost.",
            "ru": "Об утере этого устройства было сообщено.",
            "zh": "此设备已被报告丢失。",
        ],
        "terms_not_accepted": [
            "en": "Please read and accept the card's terms and conditions first.",
            "ru": "Сначала прочитайте и примите условия обслуживания карты.",
            "zh": "请先阅读并接受此卡的条款和条件。",
        ],
        "receipt_used": [
            "en": "This card was already added from your bank's app. Add it again from the app.",
            "ru": "Эта карта уже добавлена из приложения банка. Добавьте её из приложения снова.",
            "zh": "此卡已通过银行应用添加。请在应用中重新添加。",
        ],
        "receipt_expired": [
            "en": "The request from your bank's app has expired. Add the card again from the app.",
            "ru": "Запрос из приложения банка устарел. Добавьте карту из приложения снова.",
            "zh": "来自银行应用的请求已过期。请在应用中重新添加此卡。",
        ],
        "terms_changed": [
            "en": "The terms and conditions of {card} have changed (version {version}).",
            "ru": "Условия обслуживания карты {card} изменились (версия {version}).",
            "zh": "{card} 的条款和条件已更新（版本 {version}）。",
        ],
    ]
}
