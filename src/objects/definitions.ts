import type { FieldDef } from './field-types.ts';

/**
 * The standard objects, declared once. Validation, the OpenAPI document, list filters and
 * sort, search, the metadata endpoint (forms and tables in the UI), audit diffs and
 * import/export all read these declarations; custom fields extend them at run time.
 * The SQL tables in migrations/ must match (test/schema-matches-registry.test.ts).
 */

export interface ObjectDef {
  name: string;
  singular: string;
  label: string;
  labelPlural: string;
  table: string;
  /** SQL expression (over alias t) giving the record's display title; also trigram-indexed. */
  titleSql: string;
  /** Fields whose values make the title, for the UI. */
  titleFields: readonly string[];
  /** Extra trigram-searched expressions (e.g. email). */
  trigramSql?: readonly string[];
  defaultSort: string;
  fields: readonly FieldDef[];
}

/** Present on every object, maintained by the system. */
export const SYSTEM_FIELDS: readonly FieldDef[] = [
  { name: 'id', label: 'ID', type: 'uuid', column: 'id', readOnly: true },
  { name: 'version', label: 'Version', type: 'integer', column: 'version', readOnly: true },
  { name: 'createdAt', label: 'Created', type: 'datetime', column: 'created_at', readOnly: true },
  { name: 'updatedAt', label: 'Last modified', type: 'datetime', column: 'updated_at', readOnly: true },
  { name: 'createdBy', label: 'Created by', type: 'lookup', lookup: 'users', column: 'created_by', readOnly: true },
  { name: 'updatedBy', label: 'Last modified by', type: 'lookup', lookup: 'users', column: 'updated_by', readOnly: true },
  { name: 'deletedAt', label: 'Deleted', type: 'datetime', column: 'deleted_at', readOnly: true },
  // Writable: the creator by default; reassignment is a normal update.
  { name: 'ownerId', label: 'Owner', type: 'lookup', lookup: 'users', column: 'owner_id' },
];

const externalId: FieldDef = {
  name: 'externalId',
  label: 'External ID',
  type: 'text',
  maxLength: 255,
  description: 'Identifier in another system (import upsert key)',
};

export const LEAD_STATUSES = ['new', 'working', 'qualified', 'unqualified', 'converted'] as const;
export const OPPORTUNITY_STAGES = [
  'prospecting',
  'qualification',
  'proposal',
  'negotiation',
  'closed_won',
  'closed_lost',
] as const;
export const CASE_STATUSES = ['new', 'open', 'pending', 'resolved', 'closed'] as const;
export const CASE_PRIORITIES = ['low', 'medium', 'high', 'urgent'] as const;
export const ACTIVITY_TYPES = ['task', 'call', 'meeting', 'note', 'email'] as const;
export const RELATABLE_OBJECTS = ['accounts', 'contacts', 'leads', 'opportunities', 'cases'] as const;
const SOURCES = ['web', 'referral', 'partner', 'event', 'cold_call', 'advertising', 'other'];
const INDUSTRIES = [
  'agriculture',
  'banking',
  'construction',
  'consulting',
  'education',
  'energy',
  'government',
  'healthcare',
  'hospitality',
  'insurance',
  'manufacturing',
  'media',
  'nonprofit',
  'retail',
  'technology',
  'telecommunications',
  'transportation',
  'other',
];

// Contacts and leads are people: the same name and reach fields, titled and found the same way.
const PERSON_TITLE = {
  titleSql: "coalesce(t.first_name, '') || ' ' || t.last_name",
  titleFields: ['firstName', 'lastName'],
  trigramSql: ['t.email'],
} as const;
const PERSON_FIELDS: readonly FieldDef[] = [
  { name: 'firstName', label: 'First name', type: 'text', searchWeight: 'A' },
  { name: 'lastName', label: 'Last name', type: 'text', required: true, searchWeight: 'A' },
  { name: 'email', label: 'Email', type: 'email', searchWeight: 'A' },
  { name: 'phone', label: 'Phone', type: 'phone', searchWeight: 'C' },
];

export const STANDARD_OBJECTS: readonly ObjectDef[] = [
  {
    name: 'accounts',
    singular: 'account',
    label: 'Account',
    labelPlural: 'Accounts',
    table: 'accounts',
    titleSql: 't.name',
    titleFields: ['name'],
    defaultSort: '-createdAt',
    fields: [
      { name: 'name', label: 'Account name', type: 'text', required: true, searchWeight: 'A' },
      { name: 'domain', label: 'Domain', type: 'text', searchWeight: 'B' },
      { name: 'industry', label: 'Industry', type: 'picklist', options: INDUSTRIES },
      { name: 'employees', label: 'Employees', type: 'integer' },
      { name: 'annualRevenue', label: 'Annual revenue', type: 'decimal' },
      { name: 'phone', label: 'Phone', type: 'phone', searchWeight: 'C' },
      { name: 'website', label: 'Website', type: 'url' },
      { name: 'billingCity', label: 'Billing city', type: 'text', searchWeight: 'D' },
      { name: 'billingCountry', label: 'Billing country', type: 'text' },
      externalId,
    ],
  },
  {
    name: 'contacts',
    singular: 'contact',
    label: 'Contact',
    labelPlural: 'Contacts',
    table: 'contacts',
    ...PERSON_TITLE,
    defaultSort: '-createdAt',
    fields: [
      ...PERSON_FIELDS,
      { name: 'mobilePhone', label: 'Mobile', type: 'phone', searchWeight: 'C' },
      { name: 'title', label: 'Title', type: 'text', searchWeight: 'D' },
      { name: 'department', label: 'Department', type: 'text' },
      { name: 'accountId', label: 'Account', type: 'lookup', lookup: 'accounts' },
      externalId,
    ],
  },
  {
    name: 'leads',
    singular: 'lead',
    label: 'Lead',
    labelPlural: 'Leads',
    table: 'leads',
    ...PERSON_TITLE,
    defaultSort: '-createdAt',
    fields: [
      ...PERSON_FIELDS,
      { name: 'title', label: 'Title', type: 'text', searchWeight: 'D' },
      { name: 'company', label: 'Company', type: 'text', searchWeight: 'B' },
      { name: 'status', label: 'Status', type: 'picklist', options: LEAD_STATUSES, required: true, defaultValue: 'new' },
      { name: 'source', label: 'Source', type: 'picklist', options: SOURCES },
      { name: 'convertedAt', label: 'Converted', type: 'datetime', readOnly: true },
      { name: 'convertedAccountId', label: 'Converted account', type: 'lookup', lookup: 'accounts', readOnly: true },
      { name: 'convertedContactId', label: 'Converted contact', type: 'lookup', lookup: 'contacts', readOnly: true },
      {
        name: 'convertedOpportunityId',
        label: 'Converted opportunity',
        type: 'lookup',
        lookup: 'opportunities',
        readOnly: true,
      },
      externalId,
    ],
  },
  {
    name: 'opportunities',
    singular: 'opportunity',
    label: 'Opportunity',
    labelPlural: 'Opportunities',
    table: 'opportunities',
    titleSql: 't.name',
    titleFields: ['name'],
    defaultSort: '-createdAt',
    fields: [
      { name: 'name', label: 'Opportunity name', type: 'text', required: true, searchWeight: 'A' },
      { name: 'accountId', label: 'Account', type: 'lookup', lookup: 'accounts' },
      { name: 'amount', label: 'Amount', type: 'decimal' },
      { name: 'currency', label: 'Currency', type: 'currencyCode' },
      {
        name: 'stage',
        label: 'Stage',
        type: 'picklist',
        options: OPPORTUNITY_STAGES,
        required: true,
        defaultValue: 'prospecting',
      },
      { name: 'probability', label: 'Probability (%)', type: 'integer' },
      { name: 'closeDate', label: 'Close date', type: 'date' },
      { name: 'nextStep', label: 'Next step', type: 'text', searchWeight: 'D' },
      { name: 'leadSource', label: 'Lead source', type: 'picklist', options: SOURCES },
      externalId,
    ],
  },
  {
    name: 'cases',
    singular: 'case',
    label: 'Case',
    labelPlural: 'Cases',
    table: 'cases',
    titleSql: 't.subject',
    titleFields: ['subject'],
    defaultSort: '-createdAt',
    fields: [
      { name: 'subject', label: 'Subject', type: 'text', required: true, searchWeight: 'A' },
      { name: 'description', label: 'Description', type: 'textarea', searchWeight: 'C' },
      { name: 'status', label: 'Status', type: 'picklist', options: CASE_STATUSES, required: true, defaultValue: 'new' },
      {
        name: 'priority',
        label: 'Priority',
        type: 'picklist',
        options: CASE_PRIORITIES,
        required: true,
        defaultValue: 'medium',
      },
      { name: 'origin', label: 'Origin', type: 'picklist', options: ['email', 'phone', 'web', 'chat', 'other'] },
      { name: 'accountId', label: 'Account', type: 'lookup', lookup: 'accounts' },
      { name: 'contactId', label: 'Contact', type: 'lookup', lookup: 'contacts' },
      { name: 'closedAt', label: 'Closed', type: 'datetime', readOnly: true },
      externalId,
    ],
  },
  {
    name: 'activities',
    singular: 'activity',
    label: 'Activity',
    labelPlural: 'Activities',
    table: 'activities',
    titleSql: 't.subject',
    titleFields: ['subject'],
    defaultSort: '-createdAt',
    fields: [
      { name: 'type', label: 'Type', type: 'picklist', options: ACTIVITY_TYPES, required: true, defaultValue: 'task' },
      { name: 'subject', label: 'Subject', type: 'text', required: true, searchWeight: 'A' },
      { name: 'body', label: 'Body', type: 'textarea', searchWeight: 'C' },
      { name: 'dueAt', label: 'Due', type: 'datetime' },
      { name: 'completedAt', label: 'Completed', type: 'datetime' },
      { name: 'relatedObject', label: 'Related to (object)', type: 'picklist', options: RELATABLE_OBJECTS },
      { name: 'relatedId', label: 'Related to', type: 'uuid' },
      externalId,
    ],
  },
];

const snakeCase = new Map<string, string>();

/** The column of a standard field (camelCase name → snake_case unless declared). Called per row and field: memoized. */
export function columnOf(field: FieldDef): string {
  if (field.column) return field.column;
  let column = snakeCase.get(field.name);
  if (column === undefined) {
    column = field.name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    snakeCase.set(field.name, column);
  }
  return column;
}
