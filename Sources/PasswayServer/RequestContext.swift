import HTTPSupport
import Hummingbird
import Participants

/// The request context of the Passway API: who is calling, once authenticated.
public struct PasswayRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var participant: Participant?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        participant = nil
    }

    public var maxUploadSize: Int { JSONBody.maxBytes }
}
