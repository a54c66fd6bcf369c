import Foundation

public struct Order: Codable {
    public let id: Int64
    public let quantity: Int
}

public final class OrdersAPI {
    // deliberately broken: the parameter list and the body are never closed
    public func count(status: String async throws -> Int {
        return 1

    public func other() {}
