//! The web console's sign-in: `POST /v1/session` trades an admin token for a
//! session cookie, `GET` shows the session, `DELETE` signs out; and the rule
//! every call made with that cookie meets (see [`session_caller`]).
//!
//! Why a cookie and not the token: a page that keeps a token where its
//! scripts can read it (localStorage, memory) hands it to any script that
//! runs there. The cookie is HttpOnly, so no script reads it; it holds a
//! random secret, never the token, and the hub keeps only that secret's hash.
//!
//! Why the CSRF rule: a browser sends the cookie by itself. SameSite=Strict
//! already keeps it off requests another site starts, and on top of that a
//! call that changes something must carry the session's `X-Gantry-Csrf`
//! value (which another site cannot read), and a request whose `Origin` is
//! another host, or that the browser marks `Sec-Fetch-Site: cross-site`, is
//! refused. A call with `Authorization: Bearer` is not a browser's: it
//! needs none of this.

use axum::Json;
use axum::extract::{DefaultBodyLimit, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::on;
use gantry_protocol::admin::utc_minute;
use gantry_protocol::console::{CSRF_HEADER, NewSession, SESSION_COOKIE, SessionInfo};
use gantry_protocol::wire::codes;

use super::auth::{refused, unknown_token};
use super::extract::JsonBody;
use super::{Access, BodyDoc, Endpoint, ep, method, schema};
use crate::db::{Caller, Session, SessionFound};
use crate::{ApiError, Hub};

/// Put on every request by the HTTPS server ([`crate::tls`]), so the
/// session cookie is marked `Secure` there.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OverTls;

/// What a request says about the browser that sent it.
pub(super) struct Browser {
    /// The session cookie's secret, if it sent one.
    secret: Option<String>,
    /// Whether the cookie it gets must be `Secure`: the hub serves HTTPS, or
    /// a proxy in front says the browser used it (`X-Forwarded-Proto: https`).
    secure: bool,
    /// Why the request comes from another site, if it does.
    foreign: Option<String>,
    /// The `X-Gantry-Csrf` header.
    csrf: Option<String>,
}

impl Browser {
    /// Reads what the request's headers say.
    pub(super) fn of(parts: &Parts) -> Browser {
        let headers = &parts.headers;
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let forwarded_https = text("x-forwarded-proto").is_some_and(|proto| {
            proto
                .split(',')
                .next()
                .is_some_and(|first| first.trim().eq_ignore_ascii_case("https"))
        });
        Browser {
            secret: cookie(headers, SESSION_COOKIE),
            secure: parts.extensions.get::<OverTls>().is_some() || forwarded_https,
            foreign: foreign(parts),
            csrf: text(CSRF_HEADER).map(str::to_owned),
        }
    }

    /// Whether it sent a session cookie.
    pub(super) fn has_cookie(&self) -> bool {
        self.secret.is_some()
    }

    /// A refusal when the request comes from another site.
    fn same_site(&self) -> Result<(), ApiError> {
        match &self.foreign {
            None => Ok(()),
            Some(why) => Err(csrf_refused(format!(
                "this request comes from another site ({why}); the hub takes calls with its session \
                 cookie only from its own console. Open the console at the hub's address"
            ))),
        }
    }
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The cookie's secret and the CSRF value are never printed.
        f.debug_struct("Browser")
            .field("has_cookie", &self.secret.is_some())
            .field("secure", &self.secure)
            .field("foreign", &self.foreign)
            .field("has_csrf", &self.csrf.is_some())
            .finish()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Browser {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Browser::of(parts))
    }
}

/// The value of the cookie `name`, from every `Cookie` header (HTTP/2 may
/// send several).
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_owned())
}

/// Why the request comes from another site, if it does: the browser says so
/// (`Sec-Fetch-Site: cross-site`), or its `Origin` is not the host it asked.
fn foreign(parts: &Parts) -> Option<String> {
    let headers = &parts.headers;
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if text(header::HeaderName::from_static("sec-fetch-site"))
        .is_some_and(|site| site.eq_ignore_ascii_case("cross-site"))
    {
        return Some("the browser says Sec-Fetch-Site: cross-site".into());
    }
    let origin = headers.get(header::ORIGIN)?;
    let origin = origin.to_str().unwrap_or("");
    let authority = origin
        .split_once("://")
        .map(|(scheme, rest)| normal_authority(scheme, rest));
    // The host the browser asked: Host (HTTP/1.1), the :authority (HTTP/2),
    // or what a proxy in front says it was.
    let mut hosts = [
        text(header::HOST),
        parts.uri.authority().map(|a| a.as_str()),
        text(header::HeaderName::from_static("x-forwarded-host")),
    ]
    .into_iter()
    .flatten();
    match authority {
        Some((scheme, authority))
            if hosts.any(|host| normal_authority(scheme, host.trim()).1 == authority) =>
        {
            None
        }
        _ => Some(format!("Origin: {origin}")),
    }
}

/// `host[:port]` in lower case, without the scheme's default port.
fn normal_authority<'a>(scheme: &'a str, authority: &str) -> (&'a str, String) {
    let authority = authority.to_ascii_lowercase();
    let default = match scheme {
        "https" => Some(":443"),
        "http" => Some(":80"),
        _ => None,
    };
    let authority = match default {
        Some(port) => authority
            .strip_suffix(port)
            .map(str::to_owned)
            .unwrap_or(authority),
        None => authority,
    };
    (scheme, authority)
}

fn csrf_refused(message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, codes::CSRF_REFUSED, message)
}

fn session_ended(message: String) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, codes::SESSION_ENDED, message)
}

/// Whether `a` and `b` are equal, in a time that does not depend on where
/// they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |diff, (x, y)| diff | (x ^ y))
            == 0
}

/// The live session the browser's cookie names, or the 401 that says why
/// there is none.
async fn live(hub: &Hub, secret: &str) -> Result<Session, ApiError> {
    // A cookie of another form cannot name a session; it is not looked up.
    let well_formed = secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit());
    let found = if well_formed {
        hub.db().session(secret, hub.now()).await?
    } else {
        SessionFound::Unknown
    };
    match found {
        SessionFound::Live(session) => Ok(session),
        SessionFound::Expired => Err(session_ended(
            "your console session has expired; sign in again with an admin token".into(),
        )),
        SessionFound::TokenGone(Some(revocation)) => Err(session_ended(format!(
            "your console session ended: the admin token \"{}\" it signed in with was revoked at {}; \
             sign in again with another admin token (gantry hub token create --admin NAME)",
            revocation.name,
            utc_minute(revocation.at)
        ))),
        SessionFound::TokenGone(None) => Err(session_ended(
            "your console session ended: the admin token it signed in with no longer works; \
             sign in again with another admin token"
                .into(),
        )),
        SessionFound::Unknown => Err(session_ended(
            "your console session has ended (signed out, or unknown to this hub); sign in again \
             with an admin token"
                .into(),
        )),
    }
}

/// The caller behind a session cookie, for [`super::auth::Authed`]: the
/// admin whose token signed in, if the session is live, the request comes
/// from the hub's own site, and, for any method but GET and HEAD, it
/// carries the session's CSRF value.
pub(super) async fn session_caller(
    hub: &Hub,
    browser: &Browser,
    method: &Method,
) -> Result<Caller, ApiError> {
    let secret = browser.secret.as_deref().unwrap_or_default();
    let session = live(hub, secret).await?;
    allowed(browser, &session, method)?;
    Ok(Caller::Admin { name: session.name })
}

/// Whether a call with `session`'s cookie may go ahead: from the hub's own
/// site, and, for any method but GET and HEAD, with the session's CSRF value.
fn allowed(browser: &Browser, session: &Session, method: &Method) -> Result<(), ApiError> {
    browser.same_site()?;
    if method != Method::GET && method != Method::HEAD {
        match &browser.csrf {
            Some(sent) if same_secret(sent, &session.csrf) => {}
            Some(_) => {
                return Err(csrf_refused(format!(
                    "the {CSRF_HEADER} header does not match this session's value; reload the \
                     console (a call made with the session cookie sends the value the sign-in gave)"
                )));
            }
            None => {
                return Err(csrf_refused(format!(
                    "a call that changes something with the session cookie needs the header \
                     {CSRF_HEADER} with the session's value (from POST or GET /v1/session); \
                     scripts can send Authorization: Bearer <token> instead"
                )));
            }
        }
    }
    Ok(())
}

/// The `Set-Cookie` value that gives the browser `secret` for `max_age`
/// seconds (0 clears it).
fn set_cookie(secret: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={secret}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    ))
    .expect("a cookie of hex digits is a header value")
}

/// An answer with the session cookie set (or cleared), never cached.
fn with_cookie(mut response: Response, cookie: HeaderValue) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::SET_COOKIE, cookie);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn info(session: Session) -> SessionInfo {
    SessionInfo {
        name: session.name,
        expires_at: session.expires_at,
        csrf: session.csrf,
    }
}

pub(super) async fn sign_in(
    State(hub): State<Hub>,
    browser: Browser,
    JsonBody(new): JsonBody<NewSession>,
) -> Result<Response, ApiError> {
    browser.same_site()?;
    let now = hub.now();
    let name = match hub.db().caller(&new.token, now).await? {
        Some(Caller::Admin { name }) => name,
        Some(Caller::Node { .. }) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                codes::FORBIDDEN,
                "a node token cannot sign in to the console; sign in with an admin token \
                 (gantry hub token create --admin NAME)",
            ));
        }
        None => {
            return Err(match hub.db().revocation(&new.token).await? {
                Some(revocation) => refused(&revocation),
                None => unknown_token(),
            });
        }
    };
    // A browser signing in again leaves no session behind it.
    if let Some(old) = &browser.secret {
        hub.db().end_session(old).await?;
    }
    let lasts = hub.config().session_for;
    let (secret, session) = hub
        .db()
        .start_session(&new.token, &name, lasts.as_millis() as i64, now)
        .await?;
    tracing::info!(name = %session.name, "console session started");
    let cookie = set_cookie(&secret, lasts.as_secs(), browser.secure);
    Ok(with_cookie(
        (StatusCode::CREATED, Json(info(session))).into_response(),
        cookie,
    ))
}

/// The 401 for a call that needs a session and sent no cookie.
fn not_signed_in() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        codes::UNAUTHORIZED,
        "not signed in: sign in to the console with an admin token (POST /v1/session)",
    )
}

pub(super) async fn show_session(
    State(hub): State<Hub>,
    browser: Browser,
) -> Result<Response, ApiError> {
    let secret = browser.secret.as_deref().ok_or_else(not_signed_in)?;
    let session = live(&hub, secret).await?;
    browser.same_site()?;
    let mut response = Json(info(session)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

pub(super) async fn sign_out(
    State(hub): State<Hub>,
    browser: Browser,
) -> Result<Response, ApiError> {
    let secret = browser.secret.as_deref().ok_or_else(not_signed_in)?;
    // A live session ends only at its own console's request; one that has
    // ended already is just cleared from the browser.
    if let Ok(session) = live(&hub, secret).await {
        allowed(&browser, &session, &Method::DELETE)?;
        if hub.db().end_session(secret).await? {
            tracing::info!("console session signed out");
        }
    }
    Ok(with_cookie(
        StatusCode::NO_CONTENT.into_response(),
        set_cookie("", 0, browser.secure),
    ))
}

/// The routes of this file, for [`super::endpoints`].
pub(super) fn endpoints(json_limit: DefaultBodyLimit) -> Vec<Endpoint> {
    vec![
        ep(
            Method::POST,
            "/v1/session",
            "Signs in to the web console with an admin token: sets the gantry_session cookie \
             (HttpOnly, SameSite=Strict) and answers the session's CSRF value",
            Access::Public,
            &[],
            BodyDoc::Json(schema::<NewSession>),
            (201, BodyDoc::Json(schema::<SessionInfo>)),
            on(method(Method::POST), sign_in).layer(json_limit),
        ),
        ep(
            Method::GET,
            "/v1/session",
            "The console session of the gantry_session cookie, with its CSRF value",
            Access::Session,
            &[],
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<SessionInfo>)),
            on(method(Method::GET), show_session),
        ),
        ep(
            Method::DELETE,
            "/v1/session",
            "Signs out: ends the console session on the hub and clears its cookie",
            Access::Session,
            &[],
            BodyDoc::None,
            (204, BodyDoc::None),
            on(method(Method::DELETE), sign_out),
        ),
    ]
}
