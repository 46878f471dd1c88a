//! The command that sets a programme's IATI settings (`PUT …/iati-settings`): the coordinator or an admin
//! replaces them as a whole; settings equal to the current ones decide nothing.

use crate::commands::{ensure_manager, registered, CommandContext};
use crate::event::{DomainEvent, IatiSettingsChanged};
use crate::faults::Faults;
use crate::state::ProgrammeState;

use super::IatiSettings;

/// Replaces the programme's IATI settings after checking them against the programme and the IATI codelists.
pub fn set_iati_settings(
    state: &ProgrammeState,
    settings: IatiSettings,
    ctx: &CommandContext,
) -> Result<Vec<DomainEvent>, Faults> {
    let programme = registered(state)?;
    ensure_manager(programme, ctx, "set the IATI settings")?;
    if state.iati_settings() == Some(&settings) {
        return Ok(Vec::new());
    }
    Faults::check(settings.check(programme))?;
    Ok(vec![DomainEvent::IatiSettingsChanged(IatiSettingsChanged { settings })])
}
