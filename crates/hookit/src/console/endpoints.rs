//! Enabling a disabled endpoint from the overview, through the operator API's own path
//! (`api::operator::endpoints::enable_one`), audited the same way under the operator
//! token's name.

use super::ConsoleError;
use super::session::OperatorForm;
use crate::api::AppState;
use crate::api::operator::endpoints::enable_one;
use axum::extract::State;
use axum::response::Redirect;

/// `POST /console/endpoints/enable`: as `POST /v1/operator/endpoints/enable` with the
/// form's `partner_id` and `url`; back to the overview with a notice.
pub(crate) async fn enable(
    State(state): State<AppState>,
    form: OperatorForm,
) -> Result<Redirect, ConsoleError> {
    let partner_id = form.fields.required("partner_id")?;
    let url = form.fields.required("url")?;
    enable_one(&state, &form.session.operator, partner_id, url).await?;
    Ok(Redirect::to("/console/?done=endpoint_enabled"))
}
