//! The MCP side of the echo server: one tool, `echo`, that returns its `text` argument.
//!
//! Owns the rmcp [`ServerHandler`] and nothing about HTTP or tokens: the auth middleware in
//! [`super::auth`] has already accepted the request before rmcp parses it.

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, schemars, tool, tool_handler, tool_router};

/// The server name announced in `initialize` (the seed's verify script looks for it).
pub const SERVER_NAME: &str = "demo-server";

/// Arguments of the `echo` tool.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct EchoArgs {
    /// The text to send back unchanged.
    pub text: String,
}

/// The rmcp handler; one value per MCP session (or per stateless request).
#[derive(Debug, Clone)]
pub struct EchoServer {
    tool_router: ToolRouter<EchoServer>,
}

impl Default for EchoServer {
    fn default() -> Self {
        EchoServer::new()
    }
}

#[tool_router]
impl EchoServer {
    /// A handler with the `echo` tool registered.
    pub fn new() -> EchoServer {
        EchoServer {
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "Return the given text unchanged")]
    #[expect(clippy::unused_self, reason = "rmcp tools are methods of the handler")]
    fn echo(&self, Parameters(EchoArgs { text }): Parameters<EchoArgs>) -> String {
        text
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for EchoServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(SERVER_NAME, env!("CARGO_PKG_VERSION")))
            .with_instructions("Call the `echo` tool with {\"text\": \"…\"}; it returns the text.")
    }
}
