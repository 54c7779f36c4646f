-- AlterTable
ALTER TABLE "Account" ADD COLUMN     "sessionGeneration" INTEGER NOT NULL DEFAULT 0;

-- CreateTable
CREATE TABLE "SignInThrottle" (
    "key" TEXT NOT NULL,
    "failures" INTEGER NOT NULL,
    "lastFailureAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "SignInThrottle_pkey" PRIMARY KEY ("key")
);

-- CreateIndex
CREATE INDEX "MembershipInvitation_createdBy_createdOn_idx" ON "MembershipInvitation"("createdBy", "createdOn");

-- CreateIndex
CREATE INDEX "MembershipInvitation_teamId_createdOn_idx" ON "MembershipInvitation"("teamId", "createdOn");

-- CreateIndex
CREATE INDEX "MembershipInvitation_inviteeEmail_createdOn_idx" ON "MembershipInvitation"("inviteeEmail", "createdOn");
