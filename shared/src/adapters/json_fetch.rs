//! `GET` a small JSON document over HTTPS (or plain HTTP, for local test servers): the
//! identity providers' signing keys.
//!
//! One request per connection over HTTP/1.1, on the hyper, rustls and native root certificates
//! the AWS SDK already links, so the functions carry one HTTP stack instead of two. No redirects,
//! no proxies: the key URLs answer directly.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Why a document could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Not an `http://` or `https://` URL with a host.
    #[error("unusable URL: {0}")]
    Url(String),
    /// Connecting, TLS, or the exchange failed, or took too long.
    #[error("request failed: {0}")]
    Transport(String),
    /// The server answered with something other than 200.
    #[error("the server answered {0}")]
    Status(http::StatusCode),
    /// Over the size limit, or not the expected JSON.
    #[error("unusable body: {0}")]
    Body(String),
}

/// Fetches `url` and parses its body as `T`, within `timeout` and `max_bytes` of body. HTTPS
/// servers must present a certificate the system's roots trust.
pub async fn get_json<T: DeserializeOwned>(url: &str, timeout: Duration, max_bytes: usize) -> Result<T, FetchError> {
    get_json_trusting(url, timeout, max_bytes, tls_config).await
}

/// [`get_json`] with the TLS settings `tls` gives (asked only for an `https://` URL).
async fn get_json_trusting<T: DeserializeOwned>(
    url: &str,
    timeout: Duration,
    max_bytes: usize,
    tls: impl FnOnce() -> Result<Arc<rustls::ClientConfig>, FetchError>,
) -> Result<T, FetchError> {
    let body = tokio::time::timeout(timeout, get(url, max_bytes, tls))
        .await
        .map_err(|_| FetchError::Transport(format!("no answer within {timeout:?}")))??;
    serde_json::from_slice(&body).map_err(|error| FetchError::Body(error.to_string()))
}

async fn get(
    url: &str,
    max_bytes: usize,
    tls: impl FnOnce() -> Result<Arc<rustls::ClientConfig>, FetchError>,
) -> Result<Bytes, FetchError> {
    let uri: http::Uri = url.parse().map_err(|_| FetchError::Url(url.to_owned()))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(FetchError::Url(url.to_owned())),
    };
    let unusable = || FetchError::Url(url.to_owned());
    let authority = uri.authority().ok_or_else(unusable)?;
    if authority.as_str().contains('@') {
        // Credentials in a key URL would travel in clear in the Host header: refuse them.
        return Err(unusable());
    }
    // An IPv6 literal is bracketed in the URL, not in a socket address or a server name.
    let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    let path = uri.path_and_query().map_or("/", |path| path.as_str());
    let request = http::Request::get(path)
        .header(http::header::HOST, authority.as_str())
        .header(http::header::ACCEPT, "application/json")
        .header(http::header::USER_AGENT, concat!("serverless-auth/", env!("CARGO_PKG_VERSION")))
        .body(Empty::<Bytes>::new())
        .map_err(|error| FetchError::Url(error.to_string()))?;
    let tcp = TcpStream::connect((host.as_str(), port)).await.map_err(transport)?;
    if !https {
        return exchange(tcp, request, max_bytes).await;
    }
    let name = rustls::pki_types::ServerName::try_from(host).map_err(|error| FetchError::Url(error.to_string()))?;
    let stream = tokio_rustls::TlsConnector::from(tls()?).connect(name, tcp).await.map_err(transport)?;
    exchange(stream, request, max_bytes).await
}

async fn exchange<S>(stream: S, request: http::Request<Empty<Bytes>>, max_bytes: usize) -> Result<Bytes, FetchError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(transport)?;
    // The connection future drives the socket; the guard stops it however this function ends
    // (an error, or the caller's timeout dropping this future).
    let _driver = AbortOnDrop(tokio::spawn(connection));
    let response = sender.send_request(request).await.map_err(transport)?;
    if response.status() != http::StatusCode::OK {
        return Err(FetchError::Status(response.status()));
    }
    let body = Limited::new(response.into_body(), max_bytes)
        .collect()
        .await
        .map_err(|error| FetchError::Body(error.to_string()))?;
    Ok(body.to_bytes())
}

/// Aborts the task when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The client TLS settings, built once: the system's root certificates (as the AWS SDK uses
/// them) and the aws-lc-rs provider every other TLS connection here uses.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, FetchError> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    if let Some(config) = CONFIG.get() {
        return Ok(config.clone());
    }
    // Built outside the lock and kept only when it worked, so a failure is retried next time.
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if added == 0 {
        return Err(FetchError::Transport("no root certificates found on this system".to_owned()));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(transport)?;
    let config = Arc::new(builder.with_root_certificates(roots).with_no_client_auth());
    Ok(CONFIG.get_or_init(|| config).clone())
}

fn transport(error: impl std::fmt::Display) -> FetchError {
    FetchError::Transport(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn urls_without_a_usable_scheme_or_host_are_refused_before_any_io() {
        for url in ["ftp://example.com/keys", "not a url", "/keys", "https://user:secret@example.com/keys"] {
            let result = get_json::<serde_json::Value>(url, Duration::from_secs(1), 1024).await;
            assert!(matches!(result, Err(FetchError::Url(_))), "{url}: {result:?}");
        }
    }

    #[tokio::test]
    async fn a_document_over_plain_http_is_fetched_and_a_bigger_one_refused() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            for body in ["{\"keys\":[]}", "{\"keys\":[1,2,3,4,5,6,7,8,9]}"] {
                let (mut socket, _) = listener.accept().await.expect("accept");
                let mut request = [0u8; 1024];
                let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut request).await;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = tokio::io::AsyncWriteExt::write_all(&mut socket, answer.as_bytes()).await;
            }
        });
        let url = format!("http://{address}/keys");

        let small: serde_json::Value = get_json(&url, Duration::from_secs(5), 20).await.expect("fetched");
        let big = get_json::<serde_json::Value>(&url, Duration::from_secs(5), 20).await;

        assert_eq!(small, serde_json::json!({"keys": []}));
        assert!(matches!(big, Err(FetchError::Body(_))), "{big:?}");
    }

    const CERT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tls/localhost.crt");
    const KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tls/localhost.key");

    /// An HTTPS server on localhost with the test certificate; answers `body` to each connection.
    async fn tls_server(body: &'static str) -> u16 {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = vec![CertificateDer::from_pem_file(CERT).expect("certificate")];
        let key = PrivateKeyDer::from_pem_file(KEY).expect("key");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let Ok(mut stream) = acceptor.accept(socket).await else { continue };
                let mut request = [0u8; 1024];
                let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut request).await;
                let answer = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                let _ = tokio::io::AsyncWriteExt::write_all(&mut stream, answer.as_bytes()).await;
                let _ = tokio::io::AsyncWriteExt::shutdown(&mut stream).await;
            }
        });
        port
    }

    fn trusting_the_test_certificate() -> Result<Arc<rustls::ClientConfig>, FetchError> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_file(CERT).expect("certificate")).expect("root");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions();
        Ok(Arc::new(builder.expect("versions").with_root_certificates(roots).with_no_client_auth()))
    }

    #[tokio::test]
    async fn https_works_with_a_trusted_certificate_and_fails_without_one() {
        let port = tls_server("{\"keys\":[]}").await;
        let url = format!("https://localhost:{port}/keys");

        let trusted: serde_json::Value =
            get_json_trusting(&url, Duration::from_secs(5), 1024, trusting_the_test_certificate)
                .await
                .expect("fetched");
        let untrusted = get_json::<serde_json::Value>(&url, Duration::from_secs(5), 1024).await;

        assert_eq!(trusted, serde_json::json!({"keys": []}));
        assert!(matches!(untrusted, Err(FetchError::Transport(_))), "the system roots do not trust it: {untrusted:?}");
        assert!(tls_config().is_ok(), "this system's root certificates load");
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/keys", listener.local_addr().expect("address"));
        let result = get_json::<serde_json::Value>(&url, Duration::from_millis(200), 1024).await;
        assert!(matches!(result, Err(FetchError::Transport(_))), "{result:?}");
        drop(listener);
    }
}
