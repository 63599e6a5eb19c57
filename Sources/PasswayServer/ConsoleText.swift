import Participants

/// What the console says, in English and Russian. The language follows the browser's
/// `Accept-Language` until the operator picks one (a cookie).
enum ConsoleText {
    static let languages = ["en", "ru"]

    static func language(acceptLanguage: String?, chosen: String?) -> String {
        if let chosen, languages.contains(chosen) { return chosen }
        // "ru-RU,ru;q=0.9,en;q=0.8": the first of ours, by the browser's order of preference.
        return Language.choose(from: languages, acceptLanguage: acceptLanguage) ?? "en"
    }

    static func table(_ language: String) -> [String: String] { language == "ru" ? ru : en }

    static let en: [String: String] = [
        "console": "Operator's console",
        "signIn": "Sign in", "signOut": "Sign out", "signInTitle": "Sign in to the console",
        "operatorKey": "Network operator's API key",
        "signInHelp": "The key in operator.key, or another network credential (POST /v1/credentials). It is checked and not kept: the console keeps a session for 15 minutes of inactivity.",
        "notOperator": "That is not a network operator's key.",
        "overview": "Overview", "participants": "Issuers and acquirers", "markets": "Markets", "tokens": "Tokens", "money": "Money", "queues": "Queues",
        "authorizations": "Authorizations", "approved": "Approved", "perSecond": "Per second (last 10 s)", "approvalRate": "Approval rate (last minute)",
        "p50": "p50 latency, ms (last minute)", "p99": "p99 latency, ms (last minute)", "signedInAs": "Signed in with the network key", "codes": "Response codes since start", "code": "Code", "count": "Count",
        "lastHour": "The last hour, by minute", "chartRate": "authorizations per second", "chartApproval": "approval rate, %",
        "chartLatency50": "p50, ms", "chartLatency99": "p99, ms", "thisNode": "This node since it started; figures refresh every second.",
        "country": "Country", "name": "Name", "currency": "Currency", "state": "State", "reason": "Reason", "actions": "Actions",
        "sweep": "Tokens swept", "sweepSuspend": "suspended", "sweepResume": "resumed", "sweepRunning": "running", "sweepTook": "took",
        "suspend": "Suspend", "resume": "Resume as", "confirmSuspend": "Confirm the suspension",
        "suspendWarning": "Suspending a market refuses its enrollments and declines its tokens' payments at once: the tokens on its devices and those of cards its banks issued. Then each of those tokens is suspended, in the background (the Tokens swept column shows how far); cardholders are told the reason. Resuming restores only the tokens this suspension suspended.",
        "cancel": "Cancel", "live": "live", "pilot": "pilot", "planned": "planned", "suspended": "suspended",
        "issuers": "Issuers", "acquirers": "Acquirers", "id": "Id", "institution": "Institution", "links": "Issuer links",
        "endpoint": "Endpoint", "connections": "Connections", "failures": "Failures", "rate": "Per second", "timeouts": "Timeouts (91)",
        "standInShare": "Stand-in share", "storeAndForward": "Store-and-forward and notices", "issuer": "Issuer", "kind": "Kind",
        "queued": "Queued", "oldest": "Oldest, s", "expired": "Given up", "delivered": "Delivered", "unanswered": "Claims without an answer",
        "searchTokens": "Find tokens", "lastFour": "Last four digits", "device": "Device", "search": "Search", "token": "Token",
        "status": "Status", "wallet": "Wallet", "created": "Created", "history": "History", "event": "Event", "actor": "By", "at": "At",
        "windows": "Settlement windows", "window": "Window", "opened": "Opened", "cutOff": "Cut-off", "closed": "Closed", "positions": "Net positions",
        "participant": "Participant", "net": "Net", "closeWindow": "Close the open window", "none": "None.", "problem": "Not done",
        "back": "Back", "mapCaption": "The rollout at a glance",
        "rateLastMinute": "Per second (last whole minute)", "approvalSinceStart": "Approved, since start", "sinceStart": "since start",
        "narrow": "Give an issuer or a device with the last four digits: the tokens are looked up by those.",
        "onboarding": "Onboarding", "onboardIssuer": "Onboard an issuer (POST /v1/issuers)", "onboardAcquirer": "Onboard an acquirer (POST /v1/acquirers)",
        "cardRanges": "Card ranges (BINs, comma-separated)", "tokenRanges": "Token ranges", "enabledWallets": "Enabled wallets", "cryptogramProfile": "Cryptogram profile",
        "hostURL": "Issuer host URL", "hostKey": "Host key (the bank's token service key, hex)", "onboard": "Onboard",
        "onboarded": "Onboarded", "shownOnce": "Shown once, as the API shows it: give these to the participant over a safe channel; Passway keeps only their hashes or sealed copies.",
    ]

    static let ru: [String: String] = [
        "console": "Консоль оператора",
        "signIn": "Войти", "signOut": "Выйти", "signInTitle": "Вход в консоль",
        "operatorKey": "API-ключ оператора сети",
        "signInHelp": "Ключ из operator.key или другой ключ оператора сети (POST /v1/credentials). Он проверяется и не хранится: сессия консоли длится, пока вы активны (15 минут бездействия).",
        "notOperator": "Это не ключ оператора сети.",
        "overview": "Обзор", "participants": "Эмитенты и эквайеры", "markets": "Рынки", "tokens": "Токены", "money": "Расчёты", "queues": "Очереди",
        "authorizations": "Авторизации", "approved": "Одобрено", "perSecond": "В секунду (последние 10 с)", "approvalRate": "Доля одобренных (последняя минута)",
        "p50": "Задержка p50, мс (последняя минута)", "p99": "Задержка p99, мс (последняя минута)", "signedInAs": "Вход по ключу сети", "codes": "Коды ответа с запуска", "code": "Код", "count": "Количество",
        "lastHour": "Последний час по минутам", "chartRate": "авторизаций в секунду", "chartApproval": "доля одобренных, %",
        "chartLatency50": "p50, мс", "chartLatency99": "p99, мс", "thisNode": "Этот узел с момента запуска; цифры обновляются каждую секунду.",
        "country": "Страна", "name": "Название", "currency": "Валюта", "state": "Состояние", "reason": "Причина", "actions": "Действия",
        "sweep": "Обход токенов", "sweepSuspend": "приостановлено", "sweepResume": "возобновлено", "sweepRunning": "идёт", "sweepTook": "за",
        "suspend": "Приостановить", "resume": "Возобновить как", "confirmSuspend": "Подтвердить приостановку",
        "suspendWarning": "Приостановка рынка сразу запрещает выпуск токенов и отклоняет платежи его токенов: токенов на устройствах этого рынка и токенов карт его банков. Затем каждый из этих токенов приостанавливается в фоне (ход виден в столбце «Обход токенов»); держателям карт сообщается причина. Возобновление восстанавливает только токены, приостановленные этой приостановкой.",
        "cancel": "Отмена", "live": "работает", "pilot": "пилот", "planned": "планируется", "suspended": "приостановлен",
        "issuers": "Эмитенты", "acquirers": "Эквайеры", "id": "Идентификатор", "institution": "Код учреждения", "links": "Связь с эмитентами",
        "endpoint": "Адрес", "connections": "Соединения", "failures": "Сбои", "rate": "В секунду", "timeouts": "Тайм-ауты (91)",
        "standInShare": "Доля stand-in", "storeAndForward": "Отложенная доставка и уведомления", "issuer": "Эмитент", "kind": "Вид",
        "queued": "В очереди", "oldest": "Самое старое, с", "expired": "Не доставлено", "delivered": "Доставлено", "unanswered": "Заявки без ответа",
        "searchTokens": "Поиск токенов", "lastFour": "Последние четыре цифры", "device": "Устройство", "search": "Найти", "token": "Токен",
        "status": "Статус", "wallet": "Кошелёк", "created": "Создан", "history": "История", "event": "Событие", "actor": "Кто", "at": "Когда",
        "windows": "Расчётные окна", "window": "Окно", "opened": "Открыто", "cutOff": "Отсечка", "closed": "Закрыто", "positions": "Нетто-позиции",
        "participant": "Участник", "net": "Нетто", "closeWindow": "Закрыть открытое окно", "none": "Нет.", "problem": "Не выполнено",
        "back": "Назад", "mapCaption": "Развёртывание в одном взгляде",
        "rateLastMinute": "В секунду (последняя полная минута)", "approvalSinceStart": "Одобрено с запуска", "sinceStart": "с запуска",
        "narrow": "Укажите эмитента или устройство вместе с последними четырьмя цифрами: токены ищутся по ним.",
        "onboarding": "Подключение", "onboardIssuer": "Подключить эмитента (POST /v1/issuers)", "onboardAcquirer": "Подключить эквайера (POST /v1/acquirers)",
        "cardRanges": "Диапазоны карт (BIN через запятую)", "tokenRanges": "Диапазоны токенов", "enabledWallets": "Разрешённые кошельки", "cryptogramProfile": "Профиль криптограммы",
        "hostURL": "Адрес хоста эмитента", "hostKey": "Ключ хоста (ключ токен-сервиса банка, hex)", "onboard": "Подключить",
        "onboarded": "Подключён", "shownOnce": "Показывается один раз, как в API: передайте участнику по защищённому каналу; Passway хранит только хеши или запечатанные копии.",
    ]
}
