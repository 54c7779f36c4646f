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

export const ALL_SEARCH_ATTRIBUTES = [FlowKind, FlowStep, Email, TeamId, RealmUuid, ServerUuid];
