package clikd.gatesample.broken

import io.ktor.client.HttpClient
import io.ktor.client.call.body
import io.ktor.client.request.get
import kotlinx.serialization.Serializable

@Serializable
data class Order(val id: Long, val quantity: Int)

class OrdersApi(private val client: HttpClient) {
    // deliberately broken: a String is not an Int
    suspend fun count(): Int = client.get("/orders/count").body<String>()
}
