-- CreateTable
CREATE TABLE "Team" (
    "id" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "createdBy" INTEGER NOT NULL,
    "createdOn" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Team_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "TeamMember" (
    "teamId" INTEGER NOT NULL,
    "accountId" INTEGER NOT NULL,
    "isAdmin" BOOLEAN NOT NULL DEFAULT false,
    "joinedOn" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "TeamMember_pkey" PRIMARY KEY ("teamId","accountId")
);

-- CreateTable
CREATE TABLE "MembershipInvitation" (
    "id" SERIAL NOT NULL,
    "teamId" INTEGER NOT NULL,
    "inviteeId" INTEGER,
    "inviteeEmail" TEXT,
    "message" TEXT,
    "createdOn" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdBy" INTEGER NOT NULL,
    "expiresOn" TIMESTAMP(3),
    "boundVia" TEXT,
    "boundOn" TIMESTAMP(3),
    "joinedOn" TIMESTAMP(3),
    "revokedOn" TIMESTAMP(3),
    "expiredOn" TIMESTAMP(3),

    CONSTRAINT "MembershipInvitation_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "InvitationEvent" (
    "id" SERIAL NOT NULL,
    "key" TEXT NOT NULL,
    "invitationId" INTEGER NOT NULL,
    "teamId" INTEGER NOT NULL,
    "kind" TEXT NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "InvitationEvent_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "TeamMember_accountId_idx" ON "TeamMember"("accountId");

-- CreateIndex
CREATE INDEX "MembershipInvitation_teamId_idx" ON "MembershipInvitation"("teamId");

-- CreateIndex
CREATE INDEX "MembershipInvitation_inviteeId_idx" ON "MembershipInvitation"("inviteeId");

-- CreateIndex
CREATE UNIQUE INDEX "InvitationEvent_key_key" ON "InvitationEvent"("key");

-- CreateIndex
CREATE INDEX "InvitationEvent_teamId_kind_idx" ON "InvitationEvent"("teamId", "kind");

-- AddForeignKey
ALTER TABLE "TeamMember" ADD CONSTRAINT "TeamMember_teamId_fkey" FOREIGN KEY ("teamId") REFERENCES "Team"("id") ON DELETE CASCADE ON UPDATE CASCADE;
