//! Finding the client an authorization request names: a registered client by id, or — with CIMD
//! on — a client whose `client_id` is the URL of its Client ID Metadata Document.

use super::AppState;
use super::store::Client;

/// The client `client_id` names, if this server knows it.
pub fn find_client(state: &AppState, client_id: &str) -> Option<Client> {
    if client_id.is_empty() {
        return None;
    }
    state
        .store
        .read(|d| d.clients.iter().find(|c| c.id == client_id).cloned())
}
