import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * The custom search attributes operators filter flows by in the Temporal Web
 * UI, e.g. `FlowKind = "trial" AND FlowStep = "awaiting_verification"`.
 * Safe to import from workflow code.
 */
export const FlowKind = defineSearchAttributeKey('FlowKind', SearchAttributeType.KEYWORD);
export const FlowStep = defineSearchAttributeKey('FlowStep', SearchAttributeType.KEYWORD);
export const Email = defineSearchAttributeKey('Email', SearchAttributeType.KEYWORD);
export const TeamId = defineSearchAttributeKey('TeamId', SearchAttributeType.KEYWORD);
export const RealmUuid = defineSearchAttributeKey('RealmUuid', SearchAttributeType.KEYWORD);
export const ServerUuid = defineSearchAttributeKey('ServerUuid', SearchAttributeType.KEYWORD);
/** When the flow's current wait ends (a link lapses, an invitation expires): `ExpiresAt < "2026-12-02T12:00:00Z"`. */
export const ExpiresAt = defineSearchAttributeKey('ExpiresAt', SearchAttributeType.DATETIME);
/** When a running free trial ends. */
export const TrialEndsAt = defineSearchAttributeKey('TrialEndsAt', SearchAttributeType.DATETIME);

export const ALL_SEARCH_ATTRIBUTES = [FlowKind, FlowStep, Email, TeamId, RealmUuid, ServerUuid, ExpiresAt, TrialEndsAt];
