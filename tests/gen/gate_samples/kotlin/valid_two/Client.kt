package clikd.gatesample.validtwo

import io.ktor.client.HttpClient
import io.ktor.client.call.body
import io.ktor.client.request.get
import kotlinx.serialization.Serializable

@Serializable
data class Health(val ok: Boolean, val version: String)

class HealthApi(private val client: HttpClient) {
    suspend fun health(): Health = client.get("/health").body()
}
