-- CreateTable
CREATE TABLE "InvitationIdempotencyKey" (
    "id" SERIAL NOT NULL,
    "callerId" INTEGER NOT NULL,
    "key" TEXT NOT NULL,
    "requestHash" TEXT NOT NULL,
    "invitationId" INTEGER NOT NULL,
    "input" JSONB NOT NULL,
    "createdOn" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "InvitationIdempotencyKey_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "InvitationIdempotencyKey_callerId_key_key" ON "InvitationIdempotencyKey"("callerId", "key");
