import { requirePermission } from '../auth/permissions.ts';
import { AppError, type FieldError, notFound, validationError } from '../http/errors.ts';
import { isUuid } from '../objects/field-types.ts';
import { loadObject } from '../objects/registry.ts';
import type { WriteResult } from '../write/write-path.ts';
import { isPlainObject, toApiRecord } from './record-shape.ts';
import { insertRecord, type RecordsDeps, type RequestCtx, updateRecord, write } from './records.service.ts';

interface ConvertOptions {
  accountId?: string;
  createOpportunity: boolean;
  opportunityName?: string;
}

function parseOptions(body: unknown): ConvertOptions {
  const b = body === undefined ? {} : body;
  if (!isPlainObject(b)) throw validationError([{ path: '', message: 'the request body must be a JSON object' }]);
  const errors: FieldError[] = [];
  for (const k of Object.keys(b)) {
    if (!['accountId', 'createOpportunity', 'opportunityName'].includes(k)) errors.push({ path: `/${k.slice(0, 100)}`, message: 'unknown field' });
  }
  if (b.accountId !== undefined && b.accountId !== null && (typeof b.accountId !== 'string' || !isUuid(b.accountId))) {
    errors.push({ path: '/accountId', message: 'must be a UUID' });
  }
  if (b.createOpportunity !== undefined && typeof b.createOpportunity !== 'boolean') {
    errors.push({ path: '/createOpportunity', message: 'must be true or false' });
  }
  if (
    b.opportunityName !== undefined &&
    (typeof b.opportunityName !== 'string' || b.opportunityName.trim() === '' || b.opportunityName.length > 255 || !b.opportunityName.isWellFormed() || b.opportunityName.includes('\u0000'))
  ) {
    errors.push({ path: '/opportunityName', message: 'must be a non-empty string of at most 255 characters' });
  }
  if (errors.length) throw validationError(errors);
  return {
    accountId: (b.accountId as string | null | undefined) ?? undefined,
    createOpportunity: (b.createOpportunity as boolean | undefined) ?? true,
    opportunityName: b.opportunityName as string | undefined,
  };
}

/**
 * Converts a lead into an account (new or existing), a contact and optionally an
 * opportunity, in one transaction. Converting a converted lead returns the first result.
 */
export async function convertLead(deps: RecordsDeps, ctx: RequestCtx, leadId: string, body: unknown): Promise<WriteResult> {
  requirePermission(ctx.actor, 'leads', 'update');
  requirePermission(ctx.actor, 'contacts', 'create');
  const opts = parseOptions(body);
  if (!opts.accountId) requirePermission(ctx.actor, 'accounts', 'create');
  if (opts.createOpportunity) requirePermission(ctx.actor, 'opportunities', 'create');
  if (!isUuid(leadId)) throw notFound('The lead');

  return write(deps, ctx, `POST /leads/${leadId}/convert`, body ?? null, async (tx) => {
    const leads = await loadObject(tx.client, 'leads');
    const res = await tx.client.query('SELECT t.* FROM leads t WHERE t.id = $1 AND t.deleted_at IS NULL FOR UPDATE', [leadId]);
    const row = res.rows[0];
    if (!row) {
      const visible = await tx.client.query('SELECT 1 FROM leads t WHERE t.id = $1 AND t.deleted_at IS NULL', [leadId]);
      if (visible.rowCount) throw new AppError('forbidden', 'You may see this lead but not convert it.');
      throw notFound('The lead');
    }
    if (row.status === 'converted') {
      return {
        status: 200,
        body: {
          accountId: row.converted_account_id,
          contactId: row.converted_contact_id,
          opportunityId: row.converted_opportunity_id ?? null,
          alreadyConverted: true,
        },
      };
    }
    const lead = toApiRecord(leads, row);
    const owner = lead.ownerId as string;
    const personName = [lead.firstName, lead.lastName].filter(Boolean).join(' ');

    let accountId = opts.accountId;
    if (accountId) {
      const acc = await tx.client.query('SELECT 1 FROM accounts t WHERE t.id = $1 AND t.deleted_at IS NULL', [accountId]);
      if (acc.rowCount === 0) throw validationError([{ path: '/accountId', message: 'no such accounts record' }]);
    } else {
      const accounts = await loadObject(tx.client, 'accounts');
      const account = await insertRecord(tx, accounts, { name: (lead.company as string | null) || personName, ownerId: owner });
      accountId = account.id as string;
    }

    const contacts = await loadObject(tx.client, 'contacts');
    const contact = await insertRecord(tx, contacts, {
      firstName: lead.firstName,
      lastName: lead.lastName,
      email: lead.email,
      phone: lead.phone,
      title: lead.title,
      accountId,
      ownerId: owner,
    });

    let opportunityId: string | null = null;
    if (opts.createOpportunity) {
      const opportunities = await loadObject(tx.client, 'opportunities');
      const opp = await insertRecord(tx, opportunities, {
        name: opts.opportunityName ?? `${(lead.company as string | null) || personName} opportunity`,
        accountId,
        stage: 'prospecting',
        leadSource: lead.source,
        ownerId: owner,
      });
      opportunityId = opp.id as string;
    }

    await updateRecord(
      tx,
      leads,
      row,
      {
        status: 'converted',
        convertedAt: tx.at,
        convertedAccountId: accountId,
        convertedContactId: contact.id,
        convertedOpportunityId: opportunityId,
      },
      undefined,
      'convert',
    );
    const result = { accountId, contactId: contact.id as string, opportunityId };
    tx.emit({ type: 'lead.converted', object: 'leads', recordId: leadId, payload: result });
    return { status: 200, body: result };
  });
}
