-- DropIndex
DROP INDEX "MembershipInvitation_createdBy_createdOn_idx";

-- DropIndex
DROP INDEX "MembershipInvitation_teamId_createdOn_idx";

-- DropIndex
DROP INDEX "MembershipInvitation_inviteeEmail_createdOn_idx";

-- CreateTable
CREATE TABLE "InvitationMail" (
    "key" TEXT NOT NULL,
    "invitationId" INTEGER NOT NULL,
    "inviterId" INTEGER NOT NULL,
    "teamId" INTEGER NOT NULL,
    "address" TEXT NOT NULL,
    "countedOn" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "InvitationMail_pkey" PRIMARY KEY ("key")
);

-- CreateIndex
CREATE INDEX "InvitationMail_inviterId_countedOn_idx" ON "InvitationMail"("inviterId", "countedOn");

-- CreateIndex
CREATE INDEX "InvitationMail_teamId_countedOn_idx" ON "InvitationMail"("teamId", "countedOn");

-- CreateIndex
CREATE INDEX "InvitationMail_address_countedOn_idx" ON "InvitationMail"("address", "countedOn");

-- The first mails of the last day's invitations, as the caps counted them before: they keep counting for their day.
INSERT INTO "InvitationMail" ("key", "invitationId", "inviterId", "teamId", "address", "countedOn")
SELECT
    'invitation/' || i."id" || CASE WHEN i."inviteeEmail" IS NULL THEN '/notify' ELSE '/invite' END,
    i."id",
    i."createdBy",
    i."teamId",
    COALESCE(i."inviteeEmail", a."email", 'account ' || i."inviteeId"),
    i."createdOn"
FROM "MembershipInvitation" i
LEFT JOIN "Account" a ON a."id" = i."inviteeId" AND i."inviteeEmail" IS NULL
WHERE i."createdOn" >= CURRENT_TIMESTAMP - INTERVAL '1 day'
ON CONFLICT ("key") DO NOTHING;
