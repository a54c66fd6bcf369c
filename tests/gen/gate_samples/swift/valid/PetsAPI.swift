import Foundation

public enum APIError: Error {
    case http(status: Int, body: Data)
}

public final class PetsAPI: @unchecked Sendable {
    private let baseURL: URL
    private let session: URLSession
    private let decoder = JSONDecoder()

    public init(baseURL: URL, session: URLSession = .shared) {
        self.baseURL = baseURL
        self.session = session
    }

    public func listPets(limit: Int? = nil) async throws -> [Pet] {
        var components = URLComponents(url: baseURL.appendingPathComponent("pets"), resolvingAgainstBaseURL: false)!
        if let limit {
            components.queryItems = [URLQueryItem(name: "limit", value: String(limit))]
        }
        var request = URLRequest(url: components.url!)
        request.httpMethod = "GET"
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        let (data, response) = try await session.data(for: request)
        guard let http = response as? HTTPURLResponse, (200..<300).contains(http.statusCode) else {
            throw APIError.http(status: (response as? HTTPURLResponse)?.statusCode ?? 0, body: data)
        }
        return try decoder.decode([Pet].self, from: data)
    }
}

// Valid Swift that tree-sitter-swift 0.7.4 misparses (the empty tuple): the gate tolerates exactly this.
public enum Empty {
    public static func unit<T>(_: T.Type) -> T? {
        if T.self == Void.self {
            return () as? T
        }
        return nil
    }

    public static func done(_ completion: (()) -> Void) {
        completion(())
    }
}
