//! The client side of the flow: admin API, token endpoint, MCP (both eras), JWT decoding
//! (being built). The only module that speaks to the AS and MCP servers as a client.
