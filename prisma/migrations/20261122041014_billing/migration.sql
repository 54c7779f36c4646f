-- CreateTable
CREATE TABLE "RemoteZulipServer" (
    "id" SERIAL NOT NULL,
    "uuid" TEXT NOT NULL,
    "apiKeyHash" TEXT NOT NULL,
    "hostname" TEXT NOT NULL,
    "contactEmail" TEXT NOT NULL,
    "deactivated" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "RemoteZulipServer_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "RemoteRealm" (
    "id" SERIAL NOT NULL,
    "uuid" TEXT NOT NULL,
    "serverId" INTEGER NOT NULL,
    "host" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "RemoteRealm_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "RemoteRealmBillingUser" (
    "id" SERIAL NOT NULL,
    "realmId" INTEGER NOT NULL,
    "userUuid" TEXT NOT NULL,
    "email" TEXT NOT NULL,
    "fullName" TEXT NOT NULL,
    "tosVersion" TEXT,
    "enableMajorReleaseEmails" BOOLEAN NOT NULL DEFAULT true,
    "enableMaintenanceReleaseEmails" BOOLEAN NOT NULL DEFAULT true,
    "lastLogin" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "RemoteRealmBillingUser_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "RemoteServerBillingUser" (
    "id" SERIAL NOT NULL,
    "serverId" INTEGER NOT NULL,
    "email" TEXT NOT NULL,
    "fullName" TEXT NOT NULL DEFAULT '',
    "tosVersion" TEXT,
    "enableMajorReleaseEmails" BOOLEAN NOT NULL DEFAULT true,
    "enableMaintenanceReleaseEmails" BOOLEAN NOT NULL DEFAULT true,
    "lastLogin" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "RemoteServerBillingUser_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "BillingConfirmation" (
    "id" SERIAL NOT NULL,
    "keyHash" TEXT NOT NULL,
    "workflowId" TEXT NOT NULL,
    "runId" TEXT NOT NULL,
    "sequence" INTEGER NOT NULL,
    "login" JSONB NOT NULL,
    "email" TEXT NOT NULL,
    "serverId" INTEGER NOT NULL,
    "ip" TEXT NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "usedAt" TIMESTAMP(3),
    "usedBy" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "BillingConfirmation_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "RemoteZulipServer_uuid_key" ON "RemoteZulipServer"("uuid");

-- CreateIndex
CREATE UNIQUE INDEX "RemoteRealm_uuid_key" ON "RemoteRealm"("uuid");

-- CreateIndex
CREATE UNIQUE INDEX "RemoteRealmBillingUser_realmId_userUuid_key" ON "RemoteRealmBillingUser"("realmId", "userUuid");

-- CreateIndex
CREATE UNIQUE INDEX "RemoteServerBillingUser_serverId_email_key" ON "RemoteServerBillingUser"("serverId", "email");

-- CreateIndex
CREATE UNIQUE INDEX "BillingConfirmation_keyHash_key" ON "BillingConfirmation"("keyHash");

-- CreateIndex
CREATE INDEX "BillingConfirmation_ip_createdAt_idx" ON "BillingConfirmation"("ip", "createdAt");

-- CreateIndex
CREATE INDEX "BillingConfirmation_serverId_createdAt_idx" ON "BillingConfirmation"("serverId", "createdAt");

-- CreateIndex
CREATE UNIQUE INDEX "BillingConfirmation_runId_sequence_key" ON "BillingConfirmation"("runId", "sequence");

-- AddForeignKey
ALTER TABLE "RemoteRealm" ADD CONSTRAINT "RemoteRealm_serverId_fkey" FOREIGN KEY ("serverId") REFERENCES "RemoteZulipServer"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "RemoteRealmBillingUser" ADD CONSTRAINT "RemoteRealmBillingUser_realmId_fkey" FOREIGN KEY ("realmId") REFERENCES "RemoteRealm"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "RemoteServerBillingUser" ADD CONSTRAINT "RemoteServerBillingUser_serverId_fkey" FOREIGN KEY ("serverId") REFERENCES "RemoteZulipServer"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
